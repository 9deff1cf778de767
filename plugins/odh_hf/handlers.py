"""HTTP routes: the jobs API (new), the ODH-TEC compatible routes (COMPAT.md §2), settings.

Every replica answers every route from its watch of the ImportJobs: a job started through
one replica is listed, followed and cancelled through any other.
"""
from __future__ import annotations

import time
from typing import Any, Callable

from odh_core import ApiError, BaseHandler, EventStream

from . import validate
from .jobs import ImportRequest
from .resource import Job, compat_progress

KEEPALIVE_S = 15.0
# How often a waiting stream looks at the server draining (it ends then: SIGTERM must not
# wait for progress streams).
TICK_S = 1.0


class _HfHandler(BaseHandler):
    @property
    def hf(self) -> Any:
        return self.plugin

    async def _start(self, req: ImportRequest, via: str) -> Job:
        """Start an import; the caller's unfinished imports (on any replica) count against
        their concurrent-stream limit."""
        user = self.identity.username
        limits = self.odh.limits.cfg
        if limits.concurrent_streams and not (limits.exempt_admins and await self.is_admin()):
            await self.hf.jobs.watch.ready()
            running = sum(1 for j in self.hf.jobs.watch.jobs() if j.owner == user and not j.done)
            if running >= limits.concurrent_streams:
                raise ApiError(429, f"too many imports running ({running}); wait for one to "
                               "end or cancel one", headers={"Retry-After": "5"})
        return await self.hf.jobs.start(self, req, user, via=via)

    async def _job(self, job_id: str) -> Job:
        return await self.hf.jobs.get(job_id, self.identity, await self.is_admin())

    async def _wait(self, stream: EventStream, version: int, idle: list[float]) -> bool:
        """Until the jobs changed (True), or the server drains / the client left (False);
        a comment every KEEPALIVE_S keeps proxies from closing a quiet stream."""
        watch = self.hf.jobs.watch
        while not await watch.wait_change(version, TICK_S):
            if self.odh.draining:
                return False
            if time.monotonic() - idle[0] >= KEEPALIVE_S:
                idle[0] = time.monotonic()
                if not await stream.comment():
                    return False
        return True

    async def _follow(self, stream: EventStream, pick: Callable[[], Job | None],
                      render: Callable[[Job], Any], last_event: str | None = None,
                      event: str | None = None) -> None:
        """Send `render(job)` whenever the picked job changed (`last_event` names the final
        one) and end the stream when it ends; nothing while `pick()` finds no job."""
        idle = [time.monotonic()]
        sent: str | None = None
        while True:
            version = self.hf.jobs.watch.version
            job = pick()
            if job is not None and job.resource_version != sent:
                sent = job.resource_version
                idle[0] = time.monotonic()
                if not await stream.send(render(job), event=last_event if job.done else event):
                    return
                if job.done:
                    break
            if not await self._wait(stream, version, idle):
                break
        stream.finish()


class ImportsHandler(_HfHandler):
    async def get(self) -> None:
        """Import jobs: the caller's own, or every job for an admin."""
        jobs = await self.hf.jobs.visible(self.identity, await self.is_admin())
        self.ok([j.public(with_files=False) for j in reversed(jobs)])

    async def post(self) -> None:
        """Start an import: `{repo, revision?, bucket?, prefix?, include?, exclude?,
        executor?}`; it runs on whichever replica takes it (or a Kubernetes Job)."""
        req = ImportRequest.from_json(self.json_body())
        job = await self._start(req, "api")
        self.ok(job.public(), status=201)


class ImportHandler(_HfHandler):
    async def get(self, job_id: str) -> None:
        """One job: per-file state, bytes, totals, errors."""
        self.ok((await self._job(job_id)).public())

    async def delete(self, job_id: str) -> None:
        """Cancel a job; answers once the replica running it aborted its multipart uploads."""
        job = await self._job(job_id)
        self.ok((await self.hf.jobs.cancel(job)).public())


class ImportEventsHandler(_HfHandler):
    async def get(self, job_id: str) -> None:
        """SSE: the job's state on every change; the stream ends when the job ends."""
        job = await self._job(job_id)
        watch = self.hf.jobs.watch
        await self._follow(EventStream(self), lambda: watch.job(job.name), Job.public,
                           last_event="end", event="progress")


# -- ODH-TEC compatible routes (COMPAT.md §2) -------------------------------------------------
class CompatImportHandler(_HfHandler):
    async def get(self, bucket: str, rest: str) -> None:
        """GET /api/objects/hf-import/:bucket/:b64prefix/:b64model -> starts a job at once."""
        prefix, model = validate.split_b64_pair(rest)
        req = ImportRequest(repo=validate.repo_id(model), revision="main",
                            bucket=validate.bucket(bucket), prefix=validate.prefix(prefix))
        await self._start(req, "compat")
        self.write_json({"message": "Model import started"})


class CompatProgressHandler(_HfHandler):
    async def get(self) -> None:
        """SSE for the stock UI, which opens it BEFORE it starts the import and reads `{}` as
        "all completed": nothing is sent until the caller's import requested after the stream
        opened (or one still running) exists; then only that import's files, until it ends."""
        opened = time.time()
        jobs = self.hf.jobs
        await jobs.watch.ready()
        user = self.identity.username
        chosen: list[str] = []

        def pick() -> Job | None:
            if chosen:
                return jobs.watch.job(chosen[0])
            job = jobs.compat_candidate(user, opened)
            if job is not None:
                chosen.append(job.name)
            return job

        await self._follow(EventStream(self), pick, compat_progress)

