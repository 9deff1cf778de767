"""The imports' objects in the cluster, read and written with odh-core's service account.

Everything lives in one namespace (`plugins.hf.jobs_namespace`): ImportJobs, the Secret each
owns (destination credentials, hub token), the Lease that elects its worker and, with the Job
executor, the batch Job. Routes check the caller (owner or admin) before any call here.

`JobWatch` keeps every ImportJob of the namespace from a list+watch and wakes waiters on each
change: the jobs API, the ODH-TEC routes and the progress streams of every replica read it.
"""
from __future__ import annotations

import asyncio
import base64
import json
import logging
from typing import Any, AsyncIterator

from odh_core import SERVICE_ACCOUNT, ApiError, KubeError, KubeUnavailable

from .resource import API_VERSION, MANAGED_BY, PLURAL, Job

log = logging.getLogger("odh.plugin.hf.cluster")

MERGE = {"Content-Type": "application/merge-patch+json"}
MAX_EVENT = 8 * 1024 * 1024


class Cluster:
    """Thin, typed calls on the imports' namespace."""

    def __init__(self, kube: Any, namespace: str, writes: Any = None):
        self.kube = kube
        self.namespace = namespace
        self.writes = writes  # a Prometheus counter of status writes (bench.hf reads it)

    # -- paths --------------------------------------------------------------------------------
    def jobs_path(self, name: str = "", sub: str = "") -> str:
        base = f"/apis/{API_VERSION}/namespaces/{self.namespace}/{PLURAL}"
        return base + (f"/{name}" if name else "") + (f"/{sub}" if sub else "")

    def _core(self, kind: str, name: str = "") -> str:
        base = f"/api/v1/namespaces/{self.namespace}/{kind}"
        return f"{base}/{name}" if name else base

    def lease_path(self, name: str = "") -> str:
        base = f"/apis/coordination.k8s.io/v1/namespaces/{self.namespace}/leases"
        return f"{base}/{name}" if name else base

    def batch_path(self, name: str = "") -> str:
        base = f"/apis/batch/v1/namespaces/{self.namespace}/jobs"
        return f"{base}/{name}" if name else base

    async def call(self, method: str, path: str, **kwargs: Any) -> Any:
        return await self.kube.json(method, path, token=SERVICE_ACCOUNT, **kwargs)

    # -- ImportJobs ---------------------------------------------------------------------------
    async def create_job(self, obj: dict[str, Any]) -> dict[str, Any]:
        return await self.call("POST", self.jobs_path(), json=obj)

    async def get_job(self, name: str) -> dict[str, Any] | None:
        try:
            return await self.call("GET", self.jobs_path(name))
        except KubeError as exc:
            if exc.status == 404:
                return None
            raise

    async def patch_spec(self, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        return await self.call("PATCH", self.jobs_path(name), json={"spec": spec},
                               headers=MERGE)

    async def patch_status(self, name: str, status: dict[str, Any]) -> dict[str, Any]:
        if self.writes is not None:
            self.writes.inc()
        return await self.call("PATCH", self.jobs_path(name, "status"),
                               json={"status": status}, headers=MERGE)

    async def delete_job(self, name: str) -> None:
        await self._delete(self.jobs_path(name))

    async def _delete(self, path: str) -> None:
        try:
            await self.call("DELETE", path, json={"propagationPolicy": "Background"})
        except KubeError as exc:
            if exc.status != 404:
                raise

    # -- the job's Secret ---------------------------------------------------------------------
    async def create_secret(self, name: str, data: dict[str, str],
                            owner: dict[str, Any]) -> None:
        body = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                "metadata": {"name": name, "namespace": self.namespace,
                             "labels": dict(MANAGED_BY), "ownerReferences": [owner]},
                "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}
        await self.call("POST", self._core("secrets"), json=body)

    async def read_secret(self, name: str) -> dict[str, str] | None:
        try:
            obj = await self.call("GET", self._core("secrets", name))
        except KubeError as exc:
            if exc.status == 404:
                return None
            raise
        return {k: base64.b64decode(v).decode() for k, v in (obj.get("data") or {}).items()}

    async def delete_secret(self, name: str) -> None:
        await self._delete(self._core("secrets", name))

    # -- batch Jobs (the Job executor) ---------------------------------------------------------
    async def create_batch_job(self, body: dict[str, Any]) -> None:
        try:
            await self.call("POST", self.batch_path(), json=body)
        except KubeError as exc:
            if exc.status != 409:  # already there: another replica made it
                raise


class JobWatch:
    """Every ImportJob of the namespace, kept current by a watch; waiters wake on changes."""

    def __init__(self, cluster: Cluster, retry: float = 1.0):
        self.cluster = cluster
        self.retry = retry
        self.objects: dict[str, dict[str, Any]] = {}
        self.version = 0
        self._changed = asyncio.Event()
        self._ready = asyncio.Event()
        self._failed = asyncio.Event()  # the last list failed (and nothing listed yet)
        self.failure = ""
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="hf-importjob-watch")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def ready(self, timeout: float = 10.0) -> None:
        """Until the first list arrived; a 503 at once while listing fails (RBAC, no CRD)."""
        if self._ready.is_set():
            return
        waits = [asyncio.ensure_future(e.wait()) for e in (self._ready, self._failed)]
        try:
            await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()
        if not self._ready.is_set():
            raise ApiError(503, "import jobs are not available: the ImportJob list failed ("
                           f"{self.failure or 'no answer yet'}); is the ImportJob CRD "
                           "installed and odh-core allowed to read ImportJobs?")

    async def listed(self) -> None:
        """Until the first list arrived, however long listing keeps failing."""
        await self._ready.wait()

    def jobs(self) -> list[Job]:
        return sorted((Job.from_object(o) for o in self.objects.values()),
                      key=lambda j: j.requested)

    def job(self, name: str) -> Job | None:
        obj = self.objects.get(name)
        return Job.from_object(obj) if obj is not None else None

    def _notify(self) -> None:
        self.version += 1
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    async def wait_change(self, since: int, timeout: float) -> bool:
        """Until something changed after version `since` (True) or `timeout` passed."""
        if self.version != since:
            return True
        try:
            await asyncio.wait_for(self._changed.wait(), timeout)
            return True
        except asyncio.TimeoutError:
            return False

    def apply(self, obj: dict[str, Any], deleted: bool = False) -> None:
        """Take a fresher object (from the watch, or a write's answer) if it is newer."""
        name = obj["metadata"]["name"]
        if deleted:
            if self.objects.pop(name, None) is not None:
                self._notify()
            return
        old = self.objects.get(name)
        if old is not None and _rv(old) >= _rv(obj):
            return
        self.objects[name] = obj
        self._notify()

    async def _run(self) -> None:
        while True:
            try:
                rv = await self._list()
                async for kind, obj in self._watch(rv):
                    self.apply(obj, deleted=kind == "DELETED")
            except asyncio.CancelledError:
                raise
            except (ApiError, KubeUnavailable, OSError, ValueError) as exc:
                self.failure = str(getattr(exc, "message", exc))[:300]
                if not self._ready.is_set():
                    self._failed.set()
                log.warning("ImportJob watch: %s; retrying", self.failure)
            await asyncio.sleep(self.retry)

    async def _list(self) -> str:
        listed = await self.cluster.call("GET", self.cluster.jobs_path())
        fresh = {o["metadata"]["name"]: o for o in listed.get("items") or []}
        for name in set(self.objects) - set(fresh):
            self.objects.pop(name)
        for obj in fresh.values():
            obj.setdefault("apiVersion", API_VERSION)
            self.objects[obj["metadata"]["name"]] = obj
        self._notify()
        self._ready.set()
        return listed["metadata"]["resourceVersion"]

    async def _watch(self, rv: str) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        params = {"watch": "1", "resourceVersion": rv, "allowWatchBookmarks": "true",
                  "timeoutSeconds": "300"}
        kube = self.cluster.kube
        async with kube.open("GET", self.cluster.jobs_path(), token=SERVICE_ACCOUNT,
                             params=params, timeout=kube.timeout(read=330)) as resp:
            if resp.status != 200:
                raise ApiError(502, f"watch of ImportJobs answered HTTP {resp.status}")
            # Not readline(): its 64 KiB limit is less than an ImportJob of a large model.
            buffer = b""
            async for chunk in resp.content.iter_any():
                buffer += chunk
                if len(buffer) > MAX_EVENT:
                    raise ValueError("a watch event larger than 8 MiB")
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if not line.strip():
                        continue
                    event = json.loads(line)
                    kind, obj = event.get("type"), event.get("object") or {}
                    if kind == "ERROR":
                        return  # 410 Gone and the like: list again
                    if kind in ("ADDED", "MODIFIED", "DELETED"):
                        yield kind, obj


def _rv(obj: dict[str, Any]) -> int:
    try:
        return int(obj["metadata"]["resourceVersion"])
    except (KeyError, ValueError):
        return 0
