"""Import jobs as ImportJob objects: created here, run by whichever replica holds the Lease.

Every replica runs the same `JobManager`:
- `start` (a route) resolves the model and the destination for the caller, creates the
  ImportJob and its credentials Secret (owned by the ImportJob), and with the Job executor
  the batch Job; it never runs the job itself;
- the scheduler takes the Lease of any unfinished job it has room for (or whose holder is gone)
  and runs it in a `Worker`; the renewer keeps its Leases and stops a worker whose Lease was
  lost; a cancel (spec.cancel) is acted on by the holder, or by any replica if nobody holds it;
- `close` (SIGTERM) hands every running job back: status saved, Lease released, uploads kept
  for the next holder;
- the collector deletes finished ImportJobs older than `keep_finished` (their Secret, Lease and
  Job go with them through ownerReferences).
"""
from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from odh_core import ApiError, Identity, KubeError, KubeUnavailable

from . import destination, validate
from .cluster import Cluster, JobWatch
from .config import HfConfig
from .executor import pod_env, render_job
from .hub import HubClient, ModelInfo
from .lease import LeaseKeeper, LeaseLost
from .resource import API_VERSION, KIND, MANAGED_BY, Job, micro_time, name_for, owner_reference
from .transfer import TransferSettings, TransferStats
from .worker import CANCEL, HANDOVER, LOST, Worker

log = logging.getLogger("odh.plugin.hf.jobs")


@dataclass
class ImportRequest:
    repo: str
    revision: str
    bucket: str | None
    prefix: str = ""
    include: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    executor: str | None = None

    @classmethod
    def from_json(cls, body: Any) -> "ImportRequest":
        if not isinstance(body, dict):
            raise ApiError(400, "the body must be a JSON object")
        unknown = set(body) - {"repo", "revision", "bucket", "prefix", "include", "exclude",
                               "executor"}
        if unknown:
            raise ApiError(400, f"unknown field(s): {', '.join(sorted(unknown))}")
        executor = body.get("executor")
        if executor not in (None, "replica", "job"):
            raise ApiError(400, "executor must be 'replica' or 'job'")
        return cls(repo=validate.repo_id(body.get("repo")),
                   revision=validate.revision(body.get("revision")),
                   bucket=validate.bucket(body["bucket"]) if body.get("bucket") else None,
                   prefix=validate.prefix(body.get("prefix")),
                   include=validate.patterns(body.get("include"), "include"),
                   exclude=validate.patterns(body.get("exclude"), "exclude"),
                   executor=executor)


def replica_identity() -> str:
    """Unique per process: the pod name (HOSTNAME) plus the pid and a nonce."""
    return f"{os.environ.get('HOSTNAME') or socket.gethostname()}-{os.getpid()}-" \
           f"{secrets.token_hex(3)}"


class JobManager:
    def __init__(self, app: Any, hub: HubClient, cluster: Cluster, cfg: HfConfig,
                 settings: TransferSettings, stats: TransferStats,
                 slot: Callable[[], Any] | None = None, identity: str | None = None):
        self.app = app
        self.hub = hub
        self.cluster = cluster
        self.cfg = cfg
        self.settings = settings
        self.stats = stats
        self.slot = slot
        self.identity = identity or replica_identity()
        self.watch = JobWatch(cluster)
        self.leases = LeaseKeeper(cluster, self.identity, cfg.lease_duration)
        self.workers: dict[str, Worker] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._next_try: dict[str, float] = {}
        self._loops: list[asyncio.Task[None]] = []
        self._kick = asyncio.Event()
        self._retry_soon = False
        self.draining = False
        self.only: str | None = None  # `hf import`: run this job and no other
        self.credentials: Callable[[], Awaitable[dict[str, str] | None]] | None = None

    # -- lifecycle ----------------------------------------------------------------------------
    def open(self, schedule: bool = True) -> None:
        """Start the watch and (unless a command runs one job) scheduling and collection."""
        self.watch.start()
        if schedule:
            self._loops = [asyncio.create_task(self._schedule_loop(), name="hf-scheduler"),
                           asyncio.create_task(self._renew_loop(), name="hf-lease-renewer"),
                           asyncio.create_task(self._gc_loop(), name="hf-gc"),
                           asyncio.create_task(self._drain_loop(), name="hf-drain")]

    async def close(self, timeout: float = 10.0) -> None:
        """Hand every running job back (status saved, Lease released), then stop."""
        self.draining = True
        for loop in self._loops:
            loop.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        for worker in list(self.workers.values()):
            worker.stop(HANDOVER)
        running = list(self._tasks.values())
        if running:
            done, pending = await asyncio.wait(running, timeout=timeout)
            for task in pending:
                task.cancel()
        await self.watch.close()

    async def _drain_loop(self) -> None:
        """Hand jobs back as soon as the server starts draining (SIGTERM), not after the
        drain: the grace period is for requests, the jobs can move on at once."""
        while not getattr(self.app, "draining", False):
            await asyncio.sleep(0.5)
        self.draining = True
        for worker in list(self.workers.values()):
            worker.stop(HANDOVER)

    def kick(self) -> None:
        self._kick.set()

    # -- creation -----------------------------------------------------------------------------
    async def resolve(self, req: ImportRequest, token: str | None) -> ModelInfo:
        """Model info and access check, before any job exists (fail fast, clear errors)."""
        info = await self.hub.model_info(req.repo, req.revision, token)
        if (info.gated or info.private) and info.files:
            if info.gated and not token:
                raise self.hub.access_error(401, "GatedRepo", "", req.repo, req.revision, None)
            await self.hub.check_file_access(info, info.files[0].path, token)
        return info

    async def start(self, handler: Any, req: ImportRequest, owner: str,
                    via: str = "api") -> Job:
        creds, bucket, prefix = await destination.resolve_destination(
            self.app, handler, req.bucket, req.prefix)
        token = await destination.hf_token_for(self.app, handler)
        hub_ca = await destination.read_pem(self.cfg.ca_bundle, "plugins.hf.ca_bundle") \
            if self.cfg.ca_bundle and self.cfg.verify_tls else None
        info = await self.resolve(req, token)
        chosen = [f for f in info.files if validate.selected(f.path, req.include, req.exclude)]
        if not chosen:
            raise ApiError(400, f"no file of {req.repo} matches include/exclude")
        job_id = secrets.token_hex(8)
        name = name_for(job_id)
        executor = req.executor or self.cfg.executor
        obj = {"apiVersion": API_VERSION, "kind": KIND,
               "metadata": {"name": name, "namespace": self.cluster.namespace,
                            "labels": dict(MANAGED_BY)},
               "spec": {"id": job_id, "owner": owner, "via": via, "requestedAt": micro_time(),
                        "executor": executor, "cancel": False,
                        "source": {"repo": req.repo, "revision": req.revision,
                                   "commit": info.sha},
                        "include": req.include, "exclude": req.exclude,
                        "destination": {"bucket": bucket, "prefix": prefix,
                                        "secretName": name},
                        "files": [{"path": f.path, "size": f.size, "sha256": f.sha256,
                                   "lfs": f.lfs, "key": f"{prefix}{info.repo}/{f.path}"}
                                  for f in chosen]}}
        created = await self.cluster.create_job(obj)
        try:
            data = dict(creds)
            if token:
                data[destination.HF_TOKEN] = token
            if hub_ca:
                data[destination.HUB_CA_BUNDLE] = hub_ca
            await self.cluster.create_secret(name, data, owner_reference(created))
            if executor == "job":
                await self.cluster.create_batch_job(render_job(
                    created, image=self.cfg.job_image,
                    service_account=self.cfg.job_service_account,
                    env=pod_env(self.cfg, self.cluster.namespace),
                    resources=self.cfg.job_resources))
        except BaseException:
            await self.cluster.delete_job(name)  # its Secret goes with it
            raise
        log.info("import %s: %s@%s -> s3://%s/%s (%d files, %s executor) for %s", name,
                 req.repo, info.sha[:12], bucket, prefix, len(chosen), executor, owner)
        self.watch.apply(created)
        self.kick()
        return Job.from_object(created)

    # -- reading (from the watch) -------------------------------------------------------------
    async def visible(self, identity: Identity, admin: bool) -> list[Job]:
        await self.watch.ready()
        return [j for j in self.watch.jobs() if admin or j.owner == identity.username]

    async def get(self, job_id: str, identity: Identity, admin: bool) -> Job:
        await self.watch.ready()
        job = self.watch.job(name_for(job_id)) if validate.JOB_ID_RE.match(job_id) else None
        if job is None or not (admin or job.owner == identity.username):
            raise ApiError(404, f"no import job {job_id!r}")
        return job

    async def cancel(self, job: Job, timeout: float = 30.0) -> Job:
        """Ask for the cancel (a spec change) and wait until the holder ended the job."""
        if not job.done:
            try:
                self.watch.apply(await self.cluster.patch_spec(job.name, {"cancel": True}))
            except KubeError as exc:
                if exc.status != 404:
                    raise
            self.kick()
        deadline = time.monotonic() + timeout
        while True:
            version = self.watch.version
            current = self.watch.job(job.name)
            if current is None or current.done:
                return current or job
            left = deadline - time.monotonic()
            if left <= 0:
                raise ApiError(504, "the cancel was recorded, but the replica running the "
                               "import has not confirmed it yet")
            await self.watch.wait_change(version, left)

    # -- running ------------------------------------------------------------------------------
    async def _schedule_loop(self) -> None:
        await self.watch.listed()
        while True:
            self._kick.clear()
            try:
                await self.schedule_once()
            except (ApiError, KubeUnavailable) as exc:
                log.warning("import scheduling: %s", exc.message)
            version = self.watch.version
            waiter = asyncio.ensure_future(self._kick.wait())
            try:
                await asyncio.wait([waiter, asyncio.ensure_future(
                    self.watch.wait_change(version, 0.25 if self._retry_soon
                                           else self.cfg.lease_duration / 3))],
                    return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiter.cancel()

    async def schedule_once(self) -> None:
        now = time.monotonic()
        self._retry_soon = False
        for gone in set(self._next_try) - set(self.watch.objects):
            self._next_try.pop(gone, None)
            self.leases.forget(gone)
        for name, worker in list(self.workers.items()):
            if name not in self.watch.objects:  # deleted under it: stop, abort its uploads
                worker.stop(CANCEL)
        for name, obj in list(self.watch.objects.items()):
            if self.only is not None and name != self.only:
                continue
            job = Job.from_object(obj)
            if job.done:
                self._next_try.pop(name, None)
                self.leases.forget(name)
                continue
            if self.draining:
                continue
            worker = self.workers.get(name)
            if worker is not None:
                if job.cancel_requested:
                    worker.stop(CANCEL)
                continue
            if job.executor == "job" and not job.cancel_requested and self.only is None:
                continue  # its pod runs it
            if len(self.workers) >= self.cfg.max_jobs_per_replica and not job.cancel_requested:
                continue
            released = not job.holder and job.phase == "Pending"
            if self._next_try.get(name, 0) > now and not released:
                continue
            self._next_try[name] = now + self.cfg.lease_duration / 3
            acquired = await self.leases.try_acquire(name, owner_reference(obj, controller=False))
            if not acquired and released:
                # Handed back: its holder releases the Lease right after this status write.
                self._retry_soon = True
            if acquired:
                fresh = await self.cluster.get_job(name)
                if fresh is None or Job.from_object(fresh).done:
                    await self.leases.release(name)
                    continue
                self._launch(fresh)

    def _launch(self, obj: dict[str, Any]) -> None:
        name = obj["metadata"]["name"]
        worker = Worker(self.cluster, self.hub, obj, self.identity, self.settings, self.stats,
                        status_interval=self.cfg.status_interval, slot=self.slot,
                        files_in_flight=self.cfg.files_in_flight,
                        credentials=self.credentials)
        self.workers[name] = worker
        self._tasks[name] = asyncio.create_task(self._run(worker), name=f"hf-import-{name}")

    async def _run(self, worker: Worker) -> None:
        name = worker.name
        try:
            phase = await worker.run()
            log.info("import %s ended here: %s", name, phase)
        except asyncio.CancelledError:
            pass
        except Exception:  # left for a takeover once the Lease expires
            log.exception("import %s failed in this replica", name)
        finally:
            self.workers.pop(name, None)
            self._tasks.pop(name, None)
            await asyncio.shield(self._release(name))
            self.kick()

    async def _release(self, name: str) -> None:
        try:
            await self.leases.release(name)
        except (ApiError, KubeUnavailable) as exc:
            log.warning("Lease of %s not released (it expires): %s", name, exc.message)

    async def _renew_loop(self) -> None:
        every = self.cfg.lease_duration / 3
        last_ok: dict[str, float] = {}
        while True:
            await asyncio.sleep(every)
            for name, worker in list(self.workers.items()):
                try:
                    await self.leases.renew(name, owner_reference(worker.obj, controller=False))
                    last_ok[name] = time.monotonic()
                except LeaseLost:
                    log.warning("import %s: Lease lost, another replica took it", name)
                    worker.stop(LOST)
                except (ApiError, KubeUnavailable) as exc:
                    since = time.monotonic() - last_ok.setdefault(name, time.monotonic())
                    if since > self.cfg.lease_duration * 2 / 3:  # stop before it can expire
                        log.warning("import %s: Lease not renewed (%s); handing over", name,
                                    exc.message)
                        worker.stop(HANDOVER)

    async def _gc_loop(self) -> None:
        while True:
            await asyncio.sleep(self.cfg.gc_interval)
            try:
                await self.collect()
            except (ApiError, KubeUnavailable) as exc:
                log.warning("ImportJob garbage collection: %s", exc.message)

    async def collect(self) -> list[str]:
        """Delete finished ImportJobs older than keep_finished (what they own goes too)."""
        cutoff = time.time() - self.cfg.keep_finished
        gone = []
        for job in self.watch.jobs():
            if job.done and job.finished is not None and job.finished <= cutoff:
                await self.cluster.delete_job(job.name)
                gone.append(job.name)
        return gone

    async def run_here(self, name: str) -> Job:
        """Run one job in this process (the `hf import` command, a Job executor's pod): wait
        for its Lease, run it, renew, act on a cancel; returns the job once it ended (or was
        handed back)."""
        self.only = name
        self.open()
        await self.watch.ready(timeout=60)
        try:
            while True:
                version = self.watch.version
                job = self.watch.job(name)
                if job is None:
                    raise ApiError(404, f"no ImportJob {name!r} in {self.cluster.namespace}")
                if job.done or (self.draining and name not in self.workers):
                    return job
                await self.watch.wait_change(version, 1.0)
        finally:
            await self.close()

    # -- the ODH-TEC progress stream ----------------------------------------------------------
    def compat_candidate(self, owner: str, opened: float, settle: float = 2.0,
                         race: float = 5.0) -> Job | None:
        """The import an ODH-TEC progress stream opened at `opened` follows: the caller's first
        import requested after it opened, or at most `race` seconds before (the UI opens its
        EventSource and then fires the import, but the import's request can reach the server
        first: seen in Chromium with a fast import); failing that (after `settle` seconds),
        one of the caller's still running. Never an import that had finished when the stream
        opened."""
        mine = [j for j in self.watch.jobs() if j.owner == owner]
        fresh = sorted((j for j in mine if j.requested >= opened - race
                        and (j.finished is None or j.finished >= opened)),
                       key=lambda j: j.requested)
        if fresh:
            return fresh[0]
        if time.time() - opened < settle:
            return None
        running = [j for j in mine if not j.done]
        return running[-1] if running else None
