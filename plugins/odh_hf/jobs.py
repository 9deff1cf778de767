"""Import jobs: one model (revision, selected files) into one bucket/prefix.

Jobs live in this process's memory (a restart forgets them; re-running an import resumes,
since files already in S3 with the right size are skipped). Running imports as Kubernetes
Jobs, so they survive restarts and scale out, is left for later (ARCHITECTURE.md).
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from odh_core import ApiError, Identity

from . import validate
from .hub import HubClient, ModelInfo
from .transfer import FileState, Transfer, TransferSettings, TransferStats, file_states

log = logging.getLogger("odh.plugin.hf.jobs")

FINAL = ("completed", "failed", "cancelled")


@dataclass
class Job:
    id: str
    owner: str
    repo: str
    revision: str
    commit: str
    bucket: str
    prefix: str
    include: list[str]
    exclude: list[str]
    files: dict[str, FileState]
    via: str = "api"  # "api" | "compat" | "cli"
    status: str = "queued"  # queued | running | completed | failed | cancelled
    error: str | None = None
    created: float = field(default_factory=time.time)
    finished: float | None = None
    seq: int = 0
    task: asyncio.Task[None] | None = field(default=None, repr=False)
    _changed: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    version: int = 0

    @property
    def done(self) -> bool:
        return self.status in FINAL

    def notify(self) -> None:
        """Wake every watcher; they read the current state (updates coalesce)."""
        self.version += 1
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    async def wait_change(self, since: int, timeout: float) -> bool:
        """Until the job changed after `since` (True) or `timeout` passed (False)."""
        if self.version != since:
            return True
        try:
            await asyncio.wait_for(self._changed.wait(), timeout)
            return True
        except asyncio.TimeoutError:
            return False

    def totals(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for f in self.files.values():
            counts[f.status] = counts.get(f.status, 0) + 1
        return {"files": len(self.files), "bytes": sum(f.size for f in self.files.values()),
                "loaded": sum(f.loaded for f in self.files.values()), "byStatus": counts}

    def public(self, with_files: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id, "owner": self.owner, "repo": self.repo, "revision": self.revision,
            "commit": self.commit, "bucket": self.bucket, "prefix": self.prefix,
            "include": self.include, "exclude": self.exclude, "status": self.status,
            "error": self.error, "created": _iso(self.created), "finished": _iso(self.finished),
            "totals": self.totals()}
        if with_files:
            out["files"] = [f.public() for f in self.files.values()]
        return out


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


@dataclass
class ImportRequest:
    repo: str
    revision: str
    bucket: str
    prefix: str = ""
    include: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)

    @classmethod
    def from_json(cls, body: Any, default_bucket: str) -> "ImportRequest":
        if not isinstance(body, dict):
            raise ApiError(400, "the body must be a JSON object")
        unknown = set(body) - {"repo", "revision", "bucket", "prefix", "include", "exclude"}
        if unknown:
            raise ApiError(400, f"unknown field(s): {', '.join(sorted(unknown))}")
        bucket = body.get("bucket") or default_bucket
        if not bucket:
            raise ApiError(400, "bucket is required (no default bucket is configured)")
        return cls(repo=validate.repo_id(body.get("repo")),
                   revision=validate.revision(body.get("revision")),
                   bucket=validate.bucket(bucket), prefix=validate.prefix(body.get("prefix")),
                   include=validate.patterns(body.get("include"), "include"),
                   exclude=validate.patterns(body.get("exclude"), "exclude"))


class JobManager:
    """Creates, runs, lists and cancels jobs; visibility: owners see theirs, admins all."""

    def __init__(self, hub: HubClient, access: Any, token: Callable[[], Awaitable[str | None]],
                 settings: TransferSettings, stats: TransferStats, keep: int = 200):
        self.hub = hub
        self.access = access
        self.token = token
        self.settings = settings
        self.stats = stats
        self.keep = keep
        self.jobs: OrderedDict[str, Job] = OrderedDict()
        self._seq = itertools.count(1)

    async def resolve(self, req: ImportRequest) -> tuple[ModelInfo, str | None]:
        """Model info and access check, before any job exists (fail fast, clear errors)."""
        token = await self.token()
        info = await self.hub.model_info(req.repo, req.revision, token)
        if (info.gated or info.private) and info.files:
            if info.gated and not token:
                raise self.hub.access_error(401, "GatedRepo", "", req.repo, req.revision, None)
            await self.hub.check_file_access(info, info.files[0].path, token)
        return info, token

    async def start(self, req: ImportRequest, owner: str, via: str = "api") -> Job:
        if not self.access.configured:
            raise ApiError(503, "S3 is not configured: the import has nowhere to go")
        info, _ = await self.resolve(req)
        chosen = [f for f in info.files if validate.selected(f.path, req.include, req.exclude)]
        if not chosen:
            raise ApiError(400, f"no file of {req.repo} matches include/exclude")
        job = Job(id=secrets.token_hex(8), owner=owner, repo=req.repo, revision=req.revision,
                  commit=info.sha, bucket=req.bucket, prefix=req.prefix, include=req.include,
                  exclude=req.exclude, files=file_states(info, chosen, req.prefix), via=via,
                  seq=next(self._seq))
        self.jobs[job.id] = job
        self._trim()
        job.task = asyncio.create_task(self._run(job, info), name=f"hf-import-{job.id}")
        log.info("import %s: %s@%s -> s3://%s/%s (%d files) for %s", job.id, req.repo,
                 info.sha[:12], req.bucket, req.prefix, len(chosen), owner)
        return job

    async def _run(self, job: Job, info: ModelInfo) -> None:
        job.status = "running"
        job.notify()
        try:
            token = await self.token()
            tasks = [asyncio.create_task(Transfer(
                self.hub, self.access, info, job.bucket, f, token, self.settings, self.stats,
                job.notify, job.owner).run()) for f in job.files.values()]
            try:
                await asyncio.gather(*tasks, return_exceptions=True)
            except asyncio.CancelledError:
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                raise
            failed = [f for f in job.files.values() if f.status == "failed"]
            job.status = "failed" if failed else "completed"
            if failed:
                job.error = f"{len(failed)} of {len(job.files)} file(s) failed"
        except asyncio.CancelledError:
            job.status, job.error = "cancelled", "cancelled"
            for f in job.files.values():
                if not f.done:
                    f.status, f.error = "cancelled", "the import was cancelled"
        except Exception as exc:  # pragma: no cover - Transfer.run catches per file
            log.exception("import %s failed", job.id)
            job.status, job.error = "failed", type(exc).__name__
        finally:
            job.finished = time.time()
            job.notify()
            log.info("import %s %s: %s", job.id, job.status, job.totals()["byStatus"])

    def _trim(self) -> None:
        done = [j for j in self.jobs.values() if j.done]
        while len(self.jobs) > self.keep and done:
            self.jobs.pop(done.pop(0).id, None)

    def visible(self, identity: Identity, admin: bool) -> list[Job]:
        return [j for j in self.jobs.values() if admin or j.owner == identity.username]

    def get(self, job_id: str, identity: Identity, admin: bool) -> Job:
        job = self.jobs.get(job_id)
        if job is None or not (admin or job.owner == identity.username):
            raise ApiError(404, f"no import job {job_id!r}")
        return job

    async def cancel(self, job: Job) -> None:
        """Cancel and wait until every in-flight multipart upload was aborted."""
        if job.task is not None and not job.task.done():
            job.task.cancel()
            await asyncio.gather(job.task, return_exceptions=True)

    async def close(self) -> None:
        running = [j.task for j in self.jobs.values() if j.task and not j.task.done()]
        for t in running:
            t.cancel()
        if running:
            await asyncio.gather(*running, return_exceptions=True)

    def latest(self, owner: str, via: str | None = None) -> Job | None:
        for job in reversed(self.jobs.values()):
            if job.owner == owner and (via is None or job.via == via):
                return job
        return None
