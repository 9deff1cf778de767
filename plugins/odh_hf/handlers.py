"""HTTP routes: the jobs API (new), the ODH-TEC compatible routes (COMPAT.md §2), settings."""
from __future__ import annotations

from typing import Any, Callable

from odh_core import BaseHandler, EventStream

from . import validate
from .jobs import ImportRequest, Job

KEEPALIVE_S = 15.0


class _HfHandler(BaseHandler):
    @property
    def hf(self) -> Any:
        return self.plugin

    async def _start(self, req: Any, via: str) -> Job:
        """Start an import counted against the caller's open-stream limit until it ends."""
        release = await self.acquire_stream("import", detached=True)
        try:
            job = await self.hf.jobs.start(req, self.identity.username, via=via)
        except BaseException:
            release()
            raise
        job.task.add_done_callback(lambda _task: release())
        return job

    async def _job(self, job_id: str) -> Job:
        return self.hf.jobs.get(job_id, self.identity, await self.is_admin())

    async def _follow(self, stream: EventStream, job: Job, render: Callable[[Job], Any],
                      last_event: str | None = None, event: str | None = None) -> None:
        """Send `render(job)` on every change (`last_event` names the final one), a comment
        every KEEPALIVE_S while nothing changes, and end the stream when the job ends."""
        while True:
            version = job.version
            if not await stream.send(render(job), event=last_event if job.done else event):
                return
            if job.done:
                break
            if not await job.wait_change(version, KEEPALIVE_S):
                if not await stream.comment():
                    return
        stream.finish()


class ImportsHandler(_HfHandler):
    async def get(self) -> None:
        """Import jobs: the caller's own, or every job for an admin."""
        jobs = self.hf.jobs.visible(self.identity, await self.is_admin())
        self.ok([j.public(with_files=False) for j in reversed(jobs)])

    async def post(self) -> None:
        """Start an import: `{repo, revision?, bucket?, prefix?, include?, exclude?}`."""
        req = ImportRequest.from_json(self.json_body(), self.hf.access.default_bucket)
        job = await self._start(req, "api")
        self.ok(job.public(), status=201)


class ImportHandler(_HfHandler):
    async def get(self, job_id: str) -> None:
        """One job: per-file state, bytes, totals, errors."""
        self.ok((await self._job(job_id)).public())

    async def delete(self, job_id: str) -> None:
        """Cancel a job; answers once in-flight multipart uploads are aborted."""
        job = await self._job(job_id)
        await self.hf.jobs.cancel(job)
        self.ok(job.public())


class ImportEventsHandler(_HfHandler):
    async def get(self, job_id: str) -> None:
        """SSE: the job's state on every change; the stream ends when the job ends."""
        job = await self._job(job_id)
        await self._follow(EventStream(self), job, Job.public, last_event="end",
                           event="progress")


# -- ODH-TEC compatible routes (COMPAT.md §2) -------------------------------------------------
class CompatImportHandler(_HfHandler):
    async def get(self, bucket: str, rest: str) -> None:
        """GET /api/objects/hf-import/:bucket/:b64prefix/:b64model -> starts a job at once."""
        prefix, model = validate.split_b64_pair(rest)
        req = ImportRequest(repo=validate.repo_id(model), revision="main",
                            bucket=validate.bucket(bucket), prefix=validate.prefix(prefix))
        await self._start(req, "compat")
        self.write_json({"message": "Model import started"})


def compat_progress(job: Job) -> dict[str, Any]:
    """`{"<file>": {loaded, status, total}}`; failed files `{"<file>": {error, message}}`."""
    out: dict[str, Any] = {}
    for f in job.files.values():
        if f.status in ("failed", "cancelled"):
            out[f.path] = {"error": f.status, "message": f.error or f.status}
        else:
            status = {"skipped": "completed"}.get(f.status, f.status)
            out[f.path] = {"loaded": f.loaded, "status": status, "total": f.size}
    return out


class CompatProgressHandler(_HfHandler):
    async def get(self) -> None:
        """SSE of the caller's latest import; ends when every file finished (failed too)."""
        jobs = self.hf.jobs
        job = jobs.latest(self.identity.username, "compat") or jobs.latest(
            self.identity.username)
        stream = EventStream(self)
        if job is None:
            await stream.send({})
            stream.finish()
            return
        await self._follow(stream, job, compat_progress)
