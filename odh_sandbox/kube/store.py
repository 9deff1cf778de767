"""In-memory object storage with a global resourceVersion and a bounded event history.

Everything runs on the server's event loop, so no locks: a write and the fan-out of its
watch event happen atomically with respect to other requests (no await in between).
Stored objects are never mutated in place: every write stores a fresh dict, so readers may
serialise a stored object without copying it.
"""
from __future__ import annotations

import uuid
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Iterator

from .resources import Registry, ResourceType, builtin_types, type_from_crd

RBAC_GROUP = "rbac.authorization.k8s.io"
CRD_KEY = ("apiextensions.k8s.io", "customresourcedefinitions")
NS_KEY = ("", "namespaces")


def now_rfc3339() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class Event:
    type: str                      # ADDED MODIFIED DELETED
    rv: int
    key: tuple[str, str]           # (group, plural)
    obj: dict[str, Any]
    old: dict[str, Any] | None     # previous state for MODIFIED (selector transitions)


Listener = Callable[[Event], None]


class Store:
    def __init__(self, history_size: int = 50_000) -> None:
        self.registry = Registry()
        for rt in builtin_types():
            self.registry.add(rt)
        # (group, plural) -> namespace ("" for cluster scope) -> name -> object
        self._objects: dict[tuple[str, str], dict[str, dict[str, dict[str, Any]]]] = {}
        self._rv = 0
        self.history: deque[Event] = deque(maxlen=history_size)
        # Watches from a resourceVersion below this get 410 Expired.
        self.compacted_rv = 0
        self._listeners: set[Listener] = set()
        # Bumped on every RBAC write so the authorizer can cache rule sets.
        self.rbac_generation = 0
        # Called with the ResourceType when a CRD's type goes away (watches end).
        self.type_removed_hooks: list[Callable[[ResourceType], None]] = []

    # -- resource versions ---------------------------------------------------------
    @property
    def resource_version(self) -> int:
        return self._rv

    def _next_rv(self) -> int:
        self._rv += 1
        return self._rv

    def compact(self, rv: int | None = None) -> None:
        """Drop history up to `rv` (default: everything), like an etcd compaction."""
        target = self._rv if rv is None else rv
        while self.history and self.history[0].rv <= target:
            self.history.popleft()
        self.compacted_rv = max(self.compacted_rv, target)

    # -- listeners (watches) -------------------------------------------------------
    def subscribe(self, fn: Listener) -> None:
        self._listeners.add(fn)

    def unsubscribe(self, fn: Listener) -> None:
        self._listeners.discard(fn)

    def _emit(self, ev: Event) -> None:
        if len(self.history) == self.history.maxlen:
            self.compacted_rv = self.history[0].rv
        self.history.append(ev)
        if ev.key[0] == RBAC_GROUP:
            self.rbac_generation += 1
        for fn in list(self._listeners):
            fn(ev)

    # -- reads ---------------------------------------------------------------------
    def get(self, rt: ResourceType, namespace: str, name: str) -> dict[str, Any] | None:
        return self._objects.get(rt.key, {}).get(namespace if rt.namespaced else "", {}).get(name)

    def iter_sorted(self, rt: ResourceType, namespace: str | None,
                    after: tuple[str, str] | None = None) -> Iterator[dict[str, Any]]:
        """Objects in etcd key order (namespace, name), optionally strictly after a key."""
        by_ns = self._objects.get(rt.key, {})
        if namespace is not None and rt.namespaced:
            spaces = [namespace] if namespace in by_ns else []
        else:
            spaces = sorted(by_ns)
        for ns in spaces:
            if after is not None and ns < after[0]:
                continue
            objs = by_ns[ns]
            for name in sorted(objs):
                if after is not None and (ns, name) <= after:
                    continue
                yield objs[name]

    def count(self, rt: ResourceType, namespace: str | None) -> int:
        by_ns = self._objects.get(rt.key, {})
        if namespace is not None and rt.namespaced:
            return len(by_ns.get(namespace, {}))
        return sum(len(v) for v in by_ns.values())

    # -- writes --------------------------------------------------------------------
    def create(self, rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        """Store a new object; fills uid, creationTimestamp, generation, resourceVersion."""
        meta = obj.setdefault("metadata", {})
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", now_rfc3339())
        if rt.has_generation:
            meta["generation"] = 1
        return self._put(rt, obj, "ADDED", None)

    def update(self, rt: ResourceType, obj: dict[str, Any],
               old: dict[str, Any]) -> dict[str, Any]:
        meta = obj["metadata"]
        if rt.has_generation:
            changed = {k: v for k, v in obj.items() if k not in ("metadata", "status")} != \
                      {k: v for k, v in old.items() if k not in ("metadata", "status")}
            gen = old["metadata"].get("generation", 1)
            meta["generation"] = gen + 1 if changed else gen
        return self._put(rt, obj, "MODIFIED", old)

    def _put(self, rt: ResourceType, obj: dict[str, Any], kind: str,
             old: dict[str, Any] | None) -> dict[str, Any]:
        """Stamp a new resourceVersion, store the object and tell the watchers."""
        meta = obj["metadata"]
        rv = self._next_rv()
        meta["resourceVersion"] = str(rv)
        ns = meta.get("namespace", "") if rt.namespaced else ""
        self._objects.setdefault(rt.key, {}).setdefault(ns, {})[meta["name"]] = obj
        if rt.key == CRD_KEY:
            self._crd_changed(obj)
        self._emit(Event(kind, rv, rt.key, obj, old))
        return obj

    def delete(self, rt: ResourceType, namespace: str, name: str) -> dict[str, Any] | None:
        ns = namespace if rt.namespaced else ""
        objs = self._objects.get(rt.key, {}).get(ns)
        if not objs or name not in objs:
            return None
        old = objs.pop(name)
        if not objs:
            del self._objects[rt.key][ns]
        # The DELETED event carries the object at a new resourceVersion, as the real one does.
        rv = self._next_rv()
        gone = dict(old)
        gone["metadata"] = dict(old["metadata"], resourceVersion=str(rv))
        self._emit(Event("DELETED", rv, rt.key, gone, old))
        if rt.key == NS_KEY:
            self._purge_namespace(name)
        elif rt.key == CRD_KEY:
            self._crd_removed(old)
        return gone

    # -- cascades ------------------------------------------------------------------
    def _purge_namespace(self, namespace: str) -> None:
        for key, by_ns in list(self._objects.items()):
            rt = self.registry.types.get(key)
            if rt is None or not rt.namespaced or namespace not in by_ns:
                continue
            for name in sorted(by_ns.get(namespace, {})):
                self.delete(rt, namespace, name)

    def _crd_changed(self, crd: dict[str, Any]) -> None:
        rt = type_from_crd(crd)
        if rt.plural and rt.group and rt.versions:
            old = self.registry.types.get(rt.key)
            if old is not None and not old.custom:
                return  # a CRD cannot shadow a built-in type
            self.registry.add(rt)

    def _crd_removed(self, crd: dict[str, Any]) -> None:
        rt = type_from_crd(crd)
        current = self.registry.types.get(rt.key)
        if current is None or not current.custom:
            return
        for ns, objs in list(self._objects.get(rt.key, {}).items()):
            for name in sorted(objs):
                self.delete(current, ns, name)
        self._objects.pop(rt.key, None)
        self.registry.remove(rt.key)
        for hook in list(self.type_removed_hooks):
            hook(current)
