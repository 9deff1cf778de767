"""What a real cluster's control plane adds that odh-core's imports rely on.

- `coordination.k8s.io/v1` Leases (a built-in kind of every real API server), so replicas can
  elect one worker per import job exactly as they would on a cluster.
- The garbage collector's ownerReference cascade (background propagation): when an object is
  deleted, every object that lists it in `metadata.ownerReferences` (by uid) goes too, and
  theirs in turn. Real clusters do this asynchronously; here it runs right after the delete,
  on the server's event loop (the store is never touched from elsewhere).

Kept apart from the core store so that `install(store)` is the whole hook.
"""
from __future__ import annotations

import asyncio
from typing import Any

from .resources import ALL_VERBS, ResourceType
from .store import Event, Store

LEASES = ResourceType("coordination.k8s.io", ("v1",), "leases", "Lease", True, "lease",
                      (), (), ALL_VERBS, ())


def install(store: Store) -> "OwnerIndex":
    """Serve Leases and cascade deletes to dependents (ownerReferences)."""
    store.registry.add(LEASES)
    index = OwnerIndex(store)
    store.subscribe(index.on_event)
    return index


Ref = tuple[tuple[str, str], str, str]  # ((group, plural), namespace, name)


class OwnerIndex:
    """owner uid -> its dependents, kept from the store's events (no scans on delete)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.dependents: dict[str, set[Ref]] = {}

    @staticmethod
    def _owners(obj: dict[str, Any] | None) -> set[str]:
        refs = ((obj or {}).get("metadata") or {}).get("ownerReferences") or []
        return {r["uid"] for r in refs if isinstance(r, dict) and r.get("uid")}

    def on_event(self, ev: Event) -> None:
        meta = ev.obj.get("metadata") or {}
        ref: Ref = (ev.key, meta.get("namespace", ""), meta.get("name", ""))
        for uid in self._owners(ev.old):
            self.dependents.get(uid, set()).discard(ref)
        if ev.type != "DELETED":
            for uid in self._owners(ev.obj):
                self.dependents.setdefault(uid, set()).add(ref)
            return
        uid = meta.get("uid")
        if not uid or not self.dependents.get(uid):
            self.dependents.pop(uid, None)
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # a store used without a server (unit tests): cascade at once
            self.collect(uid)
            return
        # Not inside the emitting write: the delete that fired this event completes first.
        loop.call_soon(self.collect, uid)

    def collect(self, uid: str) -> None:
        for key, namespace, name in sorted(self.dependents.pop(uid, set())):
            rt = self.store.registry.types.get(key)
            if rt is not None:
                self.store.delete(rt, namespace, name)  # its DELETED event cascades further
