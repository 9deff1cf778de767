"""Run one ImportJob while holding its Lease: the same code in a replica and in a Job pod.

    secret -> S3 client + hub token;  status -> what is done;  files -> Transfers
    status writes: at most one per `status_interval` (coalesced), plus the final one

How a run ends decides what happens to open multipart uploads:
- finished (completed/failed) or cancelled by a user: every upload this job could have
  opened (ListMultipartUploads on each file's key) is aborted, the status is final, the
  credentials Secret is deleted;
- handed over (SIGTERM, or the Lease was lost): uploads stay open and the status keeps their
  ids and completed parts, so whoever takes the Lease next resumes them.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field, replace
from typing import Any, AsyncIterator, Awaitable, Callable

from odh_core import ApiError

from . import destination
from .cluster import Cluster
from .hub import HubClient, ModelInfo
from .resource import FINAL_PHASES, micro_time, parse_time
from .transfer import FileProgress, Transfer, TransferSettings, TransferStats

log = logging.getLogger("odh.plugin.hf.worker")

HANDOVER = "handover"  # give the job back: status saved, uploads kept for the next holder
LOST = "lost"  # another replica holds the Lease now: stop without writing anything more
CANCEL = "cancel"


class StatusWriter:
    """Coalesces status changes into at most one write per `interval` seconds."""

    def __init__(self, cluster: Cluster, name: str, render: Callable[[], dict[str, Any]],
                 interval: float):
        self.cluster = cluster
        self.name = name
        self.render = render
        self.interval = interval
        self.writes = 0
        self._dirty = asyncio.Event()
        self._last = float("-inf")
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"hf-status-{self.name}")

    def mark(self) -> None:
        self._dirty.set()

    def wrote(self) -> None:
        """A status write made elsewhere counts against the interval too."""
        self._last = time.monotonic()

    async def _run(self) -> None:
        while True:
            await self._dirty.wait()
            wait = self._last + self.interval - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            await self._write()

    async def _write(self) -> None:
        self._dirty.clear()
        self._last = time.monotonic()
        self.writes += 1
        try:
            await self.cluster.patch_status(self.name, self.render())
        except ApiError as exc:  # the next change (or the final flush) writes again
            log.warning("status of %s not written: %s", self.name, exc.message)
            self._dirty.set()

    async def close(self, final: bool = True, attempts: int = 3) -> bool:
        """Stop; with `final`, write what is pending (respecting the interval). True when
        that last write reached the API server."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if not final:
            return True
        for _ in range(attempts):
            wait = self._last + self.interval - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            await self._write()
            if not self._dirty.is_set():
                return True
        return False


@dataclass
class Worker:
    """Runs one job; `stop(reason)` ends it as a cancel or a handover."""

    cluster: Cluster
    hub: HubClient
    obj: dict[str, Any]
    identity: str
    settings: TransferSettings
    stats: TransferStats
    status_interval: float = 1.0
    slot: Callable[[], Any] | None = None  # the server-wide transfer limiter, if any
    files_in_flight: int = 2
    # Where the credentials come from: the job's Secret through the API (replicas), or its
    # mounted copy (a Job pod, `--credentials DIR`).
    credentials: Callable[[], Awaitable[dict[str, str] | None]] | None = None
    reason: str | None = None
    phase: str = "Running"
    message: str | None = None
    files: dict[str, FileProgress] = field(default_factory=dict)
    writer: StatusWriter | None = None
    finishing: bool = False
    _task: asyncio.Task[None] | None = None

    @property
    def name(self) -> str:
        return self.obj["metadata"]["name"]

    def status(self) -> dict[str, Any]:
        st: dict[str, Any] = {
            "phase": self.phase, "message": self.message,
            "holder": "" if self.phase in FINAL_PHASES or self.reason in (HANDOVER, LOST)
            else self.identity,
            "files": {p: f.status() for p, f in self.files.items()},
            "updateTime": micro_time()}
        if self.phase in FINAL_PHASES:
            st["completionTime"] = micro_time()
        return st

    def stop(self, reason: str) -> None:
        """Cancel (a user's cancel) or hand back (SIGTERM, Lease lost); ignored once the job
        is finishing: its final status and cleanup must not be cut in half."""
        if self._task is not None and not self._task.done() and self.reason is None \
                and not self.finishing:
            self.reason = reason
            self._task.cancel()

    async def run(self) -> str:
        """Run to the end (or until stopped); returns the phase written last."""
        self._task = asyncio.current_task()
        spec, old = self.obj["spec"], self.obj.get("status") or {}
        self.files = {f["path"]: FileProgress.restore(f, (old.get("files") or {}).get(
            f["path"])) for f in spec.get("files") or []}
        # Any earlier run (handed back, or its replica died) makes this one a takeover.
        takeovers = int(old.get("takeovers") or 0) + (1 if old.get("startTime") else 0)
        self.writer = StatusWriter(self.cluster, self.name, self.status, self.status_interval)
        creds = await (self.credentials() if self.credentials is not None
                       else self.cluster.read_secret(spec["destination"]["secretName"]))
        if creds is None:
            if all(f.done for f in self.files.values()):
                # Finished before (its final status was lost): nothing left to do.
                failed = [f for f in self.files.values() if f.state == "failed"]
                self.phase = "Failed" if failed else "Completed"
            else:
                self.phase, self.message = "Failed", "the job's credentials Secret is gone"
            await self.writer.close()
            return self.phase
        # At most one status write per interval per job, across holders too: the previous
        # holder's last write (a handover) may be a moment ago.
        since = time.time() - (parse_time(old.get("updateTime")) or 0.0)
        if since < self.status_interval:  # (never longer than one interval: clock skew)
            await asyncio.sleep(min(self.status_interval, self.status_interval - since))
        start = {"phase": "Running", "holder": self.identity, "takeovers": takeovers,
                 "updateTime": micro_time()}
        if not old.get("startTime"):
            start["startTime"] = micro_time()
        await self.cluster.patch_status(self.name, start)
        self.writer.wrote()  # that was this second's write
        self.writer.start()
        async with destination.ca_files(creds) as cas, \
                self._hub(cas.get(destination.HUB_CA_BUNDLE)) as hub, \
                destination.s3_client(creds, cas.get(destination.CA_BUNDLE)) as s3:
            try:
                if spec.get("cancel"):
                    raise asyncio.CancelledError()
                await self._files(s3, hub, creds.get(destination.HF_TOKEN) or None)
                failed = [f for f in self.files.values() if f.state == "failed"]
                self.phase = "Failed" if failed else "Completed"
                self.message = f"{len(failed)} of {len(self.files)} file(s) failed" \
                    if failed else None
                self.finishing = True
            except asyncio.CancelledError:
                if self.reason == LOST:
                    await asyncio.shield(self.writer.close(final=False))
                    return "Pending"
                if self.reason == HANDOVER:
                    self.phase = "Pending"
                    await asyncio.shield(self.writer.close())
                    return self.phase
                self.finishing = True
                self.phase, self.message = "Cancelled", "cancelled"
                for f in self.files.values():
                    if not f.done:
                        f.state, f.error = "cancelled", "the import was cancelled"
            # Not cut by a shutdown: the S3 client and the API client stay open until the
            # final status is written (or the attempt failed).
            finish = asyncio.ensure_future(self._finish(s3))
            while not finish.done():
                try:
                    await asyncio.shield(finish)
                except asyncio.CancelledError:
                    continue
            finish.result()
        return self.phase

    @contextlib.asynccontextmanager
    async def _hub(self, ca_file: str | None) -> AsyncIterator[HubClient]:
        """The hub client of this run: the shared one, or, when the job's Secret carries the
        hub's CA bundle, one of its own trusting it."""
        if ca_file is None:
            yield self.hub
            return
        hub = HubClient(replace(self.hub.settings, ca_bundle=ca_file))  # reads it off the loop
        await hub.start()
        try:
            yield hub
        finally:
            await hub.close()

    async def _files(self, s3: Any, hub: HubClient, token: str | None) -> None:
        spec = self.obj["spec"]
        src = spec["source"]
        info = ModelInfo(src["repo"], src["revision"], src["commit"], False, False, [])
        bucket = spec["destination"]["bucket"]
        limit = asyncio.Semaphore(max(1, self.files_in_flight))

        async def one(f: FileProgress) -> None:
            async with limit, self._slot():
                self.stats.enter()
                try:
                    await Transfer(hub, s3, info, bucket, f, token, self.settings,
                                   self.stats, self.writer.mark).run()  # type: ignore[union-attr]
                finally:
                    self.stats.leave()

        tasks = [asyncio.create_task(one(f)) for f in self.files.values() if not f.done]
        try:
            await asyncio.gather(*tasks)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    @contextlib.asynccontextmanager
    async def _slot(self) -> AsyncIterator[None]:
        if self.slot is None:
            yield
            return
        async with self.slot():
            yield

    async def _finish(self, s3: Any) -> None:
        """The job ended for good: no upload left open, final status, credentials gone."""
        bucket = self.obj["spec"]["destination"]["bucket"]
        for f in self.files.values():
            await abort_uploads(s3, bucket, f.key)
            f.upload_id = None
        assert self.writer is not None
        if await self.writer.close():
            # Only once the final status is stored: a replica that took the job over
            # without it would find no credentials.
            await self.cluster.delete_secret(self.obj["spec"]["destination"]["secretName"])
        log.info("import %s %s: %s", self.name, self.phase,
                 {p: f.state for p, f in self.files.items()})


async def abort_uploads(s3: Any, bucket: str, key: str) -> int:
    """Abort every open multipart upload of exactly `key` (ours, or a dead holder's whose id
    never reached the status). Returns how many were aborted."""
    aborted = 0
    try:
        page = await s3.list_multipart_uploads(Bucket=bucket, Prefix=key)
    except Exception as exc:
        log.warning("listing open uploads of %s failed: %s", key, type(exc).__name__)
        return 0
    for up in page.get("Uploads") or []:
        if up.get("Key") != key:
            continue
        try:
            await s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=up["UploadId"])
            aborted += 1
        except Exception as exc:
            log.warning("abort of %s failed: %s", key, type(exc).__name__)
    return aborted
