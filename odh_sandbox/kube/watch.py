"""Watch streams: initial state or history replay, live events, bookmarks, timeouts.

A `Watcher` is registered as a store listener; the listener only enqueues (it runs inside
the writer's call), and the HTTP handler drains the queue, serialising and flushing one
JSON line per event. A watcher that falls too far behind is ended, the way kube-apiserver
closes unresponsive watchers, instead of buffering without bound.
"""
from __future__ import annotations

import asyncio
from collections import deque
from typing import Any, Callable

from .resources import ResourceType
from .store import Event, Store

MAX_BACKLOG = 200_000

Pred = Callable[[dict[str, Any]], bool] | None


class Watcher:
    def __init__(self, store: Store, rt: ResourceType, namespace: str | None, pred: Pred,
                 path: str) -> None:
        self.store = store
        self.rt = rt
        self.namespace = namespace if rt.namespaced else None
        self.pred = pred
        self.path = path
        # A deque plus an Event rather than an asyncio.Queue: waiting with a timeout on an
        # Event can never lose an item (wait_for(queue.get()) can, on Python 3.11).
        self.items: deque[tuple[str, dict[str, Any]]] = deque()
        self.wakeup = asyncio.Event()
        self.closed = False
        self.abort = False            # drop the connection instead of ending the stream

    def _in_scope(self, obj: dict[str, Any]) -> bool:
        return self.namespace is None or obj["metadata"].get("namespace") == self.namespace

    def translate(self, ev: Event) -> tuple[str, dict[str, Any]] | None:
        """Event as this watcher sees it (selector transitions become ADDED/DELETED)."""
        if ev.key != self.rt.key or not self._in_scope(ev.obj):
            return None
        if self.pred is None:
            return ev.type, ev.obj
        now = self.pred(ev.obj)
        if ev.type == "MODIFIED":
            before = ev.old is not None and self.pred(ev.old)
            if now and before:
                return "MODIFIED", ev.obj
            if now:
                return "ADDED", ev.obj
            if before:
                return "DELETED", ev.obj
            return None
        return (ev.type, ev.obj) if now else None

    def on_event(self, ev: Event) -> None:
        if self.closed:
            return
        item = self.translate(ev)
        if item is None:
            return
        if len(self.items) >= MAX_BACKLOG:
            self.close(abort=True)  # too slow: cut it off, the client relists
            return
        self.items.append(item)
        self.wakeup.set()

    def start(self, from_rv: int | None) -> int | None:
        """Subscribe and queue the starting events. Returns None, or the too-old RV."""
        if from_rv is not None and from_rv < self.store.compacted_rv:
            return from_rv
        self.store.subscribe(self.on_event)
        if from_rv is None:
            for obj in self.store.iter_sorted(self.rt, self.namespace):
                if self.pred is None or self.pred(obj):
                    self.items.append(("ADDED", obj))
        else:
            for ev in self.store.history:
                if ev.rv > from_rv:
                    item = self.translate(ev)
                    if item is not None:
                        self.items.append(item)
        return None

    def close(self, abort: bool = False) -> None:
        if not self.closed:
            self.closed = True
            self.abort = abort
            self.store.unsubscribe(self.on_event)
            self.wakeup.set()

    def bookmark(self, api_version: str, initial_end: bool = False) -> dict[str, Any]:
        meta: dict[str, Any] = {"resourceVersion": str(self.store.resource_version)}
        if initial_end:
            meta["annotations"] = {"k8s.io/initial-events-end": "true"}
        return {"type": "BOOKMARK",
                "object": {"kind": self.rt.kind, "apiVersion": api_version, "metadata": meta}}
