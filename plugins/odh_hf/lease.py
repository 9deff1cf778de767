"""One worker per import job: a `coordination.k8s.io/v1` Lease named like the job.

Acquire: create the Lease, or take it over with an update conditioned on its resourceVersion
when it is free (no holder) or expired. Expiry is judged the way client-go's leader election
does: by how long *this* process has seen the record unchanged (not by comparing the
holder's clock to ours), so skewed clocks cannot steal a live Lease. Renewal is an update
conditioned on the resourceVersion too: a conflict means somebody else holds it now.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from odh_core import KubeError

from .cluster import Cluster
from .resource import micro_time


class LeaseLost(Exception):
    """Another replica holds the Lease now (or it is gone): stop working on the job."""


@dataclass
class _Seen:
    rv: str
    since: float


@dataclass
class LeaseKeeper:
    cluster: Cluster
    identity: str
    duration: float
    # name -> resourceVersion of our own last write (we hold those Leases)
    held: dict[str, str] = field(default_factory=dict)
    # name -> the record another holder last wrote, and since when we see it unchanged
    _seen: dict[str, _Seen] = field(default_factory=dict)

    def _body(self, name: str, owner: dict[str, Any], acquire: bool,
              old: dict[str, Any] | None = None) -> dict[str, Any]:
        now = micro_time()
        spec = dict((old or {}).get("spec") or {})
        if acquire:
            transitions = int(spec.get("leaseTransitions") or 0)
            spec.update(acquireTime=now, leaseTransitions=transitions + (1 if old else 0))
        spec.update(holderIdentity=self.identity, leaseDurationSeconds=max(1, round(
            self.duration)), renewTime=now)
        meta = {"name": name, "namespace": self.cluster.namespace,
                "ownerReferences": [owner]}
        if old is not None:
            meta["resourceVersion"] = old["metadata"]["resourceVersion"]
        return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": meta,
                "spec": spec}

    def _free(self, name: str, lease: dict[str, Any]) -> bool:
        spec = lease.get("spec") or {}
        if not spec.get("holderIdentity"):
            return True
        rv, now = lease["metadata"]["resourceVersion"], time.monotonic()
        seen = self._seen.get(name)
        if seen is None or seen.rv != rv:
            self._seen[name] = _Seen(rv, now)
            return False
        duration = float(spec.get("leaseDurationSeconds") or self.duration)
        return now - seen.since > duration

    def forget(self, name: str) -> None:
        """The job is gone: drop what was observed of its Lease."""
        self._seen.pop(name, None)

    async def try_acquire(self, name: str, owner: dict[str, Any]) -> bool:
        """True when this process now holds the Lease (a fresh one, or a taken-over one)."""
        path = self.cluster.lease_path(name)
        try:
            lease = await self.cluster.call("GET", path)
        except KubeError as exc:
            if exc.status != 404:
                raise
            lease = None
        try:
            if lease is None:
                made = await self.cluster.call("POST", self.cluster.lease_path(),
                                               json=self._body(name, owner, True))
            elif (lease.get("spec") or {}).get("holderIdentity") == self.identity \
                    or self._free(name, lease):
                made = await self.cluster.call("PUT", path,
                                               json=self._body(name, owner, True, lease))
            else:
                return False
        except KubeError as exc:
            if exc.status in (409, 404):  # somebody was faster
                return False
            raise
        self.held[name] = made["metadata"]["resourceVersion"]
        self._seen.pop(name, None)
        return True

    async def renew(self, name: str, owner: dict[str, Any]) -> None:
        """Raises LeaseLost when another replica took the Lease (or it was deleted)."""
        path = self.cluster.lease_path(name)
        try:
            lease = await self.cluster.call("GET", path)
            if lease["metadata"]["resourceVersion"] != self.held.get(name) or \
                    (lease.get("spec") or {}).get("holderIdentity") != self.identity:
                raise LeaseLost(name)
            made = await self.cluster.call("PUT", path,
                                           json=self._body(name, owner, False, lease))
        except KubeError as exc:
            if exc.status in (404, 409):
                self.held.pop(name, None)
                raise LeaseLost(name) from None
            raise
        self.held[name] = made["metadata"]["resourceVersion"]

    async def release(self, name: str) -> None:
        """Give the Lease back at once (no holder): another replica may take it right away."""
        rv = self.held.pop(name, None)
        if rv is None:
            return
        path = self.cluster.lease_path(name)
        try:
            lease = await self.cluster.call("GET", path)
            if lease["metadata"]["resourceVersion"] != rv:
                return
            spec = dict(lease.get("spec") or {}, holderIdentity="", renewTime=micro_time())
            await self.cluster.call("PUT", path, json=dict(lease, spec=spec))
        except KubeError as exc:
            if exc.status not in (404, 409):
                raise
