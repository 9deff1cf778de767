"""Watch streams: initial state or history replay, live events, bookmarks, timeouts.

A `Watcher` is registered as a store listener; the listener only enqueues (it runs inside
the writer's call), and the HTTP handler drains the queue, serialising and flushing one
JSON line per event. A watcher that falls too far behind is ended, the way kube-apiserver
closes unresponsive watchers, instead of buffering without bound.
"""
from __future__ import annotations

import asyncio
import json
from collections import deque
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from . import errors, tables
from .errors import bad_request
from .ops import with_version
from .resources import ResourceType
from .selectors import make_filter
from .store import Event, Store

MAX_BACKLOG = 200_000
DEFAULT_WATCH_TIMEOUT = 1800.0

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

    def too_old_event(self, rv: int) -> dict[str, Any]:
        st = errors.gone_expired(f"too old resource version: {rv} "
                                 f"({self.store.compacted_rv + 1})").body
        return {"type": "ERROR", "object": st}


def query_bool(v: str | None) -> bool:
    """A boolean query parameter, read as kube-apiserver reads one."""
    return (v or "").strip().lower() in ("true", "1", "t", "yes")


@dataclass
class WatchSpec:
    """A watch request's parameters, checked."""
    rt: ResourceType
    pred: Pred
    from_rv: int | None
    timeout: float
    bookmarks: bool
    initial_end: bool
    as_table: bool
    include: str
    api_version: str

    @classmethod
    def from_request(cls, rt: ResourceType, version: str, name: str, args: dict[str, str],
                     accept: str) -> WatchSpec:
        field_sel = args.get("fieldSelector")
        if name:
            name_sel = f"metadata.name={name}"
            field_sel = f"{field_sel},{name_sel}" if field_sel else name_sel
        pred = make_filter(args.get("labelSelector"), field_sel, rt.kind)
        rv_arg = args.get("resourceVersion") or ""
        from_rv = None
        if rv_arg not in ("", "0"):
            try:
                from_rv = int(rv_arg)
            except ValueError:
                raise bad_request(f'resourceVersion: Invalid value: "{rv_arg}": must be an '
                                  "integer") from None
        timeout = DEFAULT_WATCH_TIMEOUT
        if args.get("timeoutSeconds"):
            try:
                timeout = float(args["timeoutSeconds"])
            except ValueError:
                raise bad_request("timeoutSeconds must be a number") from None
        return cls(rt, pred, from_rv, timeout, query_bool(args.get("allowWatchBookmarks")),
                   query_bool(args.get("sendInitialEvents")), tables.wants_table(accept),
                   args.get("includeObject", "Metadata"), rt.api_version(version))

    def encode(self, etype: str, obj: dict[str, Any]) -> bytes:
        obj = with_version(obj, self.api_version)
        if self.as_table:
            obj = tables.to_table(self.rt, [obj], {"resourceVersion": obj["metadata"]
                                                   .get("resourceVersion", "")}, self.include)
        return json.dumps({"type": etype, "object": obj}, separators=(",", ":")).encode()


async def pump(watcher: Watcher, spec: WatchSpec, bookmark_interval: float,
               send: Callable[[list[bytes]], Awaitable[None]]) -> None:
    """Deliver a started watcher's events, one JSON line each, until it closes or times out;
    bookmarks as the watch cache sends them."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + spec.timeout
    next_bookmark = loop.time() + bookmark_interval
    pending_initial_bookmark = spec.bookmarks

    def bookmark(initial_end: bool = False) -> list[bytes]:
        mark = watcher.bookmark(spec.api_version, initial_end)
        return [json.dumps(mark, separators=(",", ":")).encode() + b"\n"]

    while True:
        now = loop.time()
        if now >= deadline:
            if spec.bookmarks:  # like the watch cache: a last bookmark before timing out
                await send(bookmark())
            return
        if watcher.items:
            chunks: list[bytes] = []
            while watcher.items and len(chunks) < 500:
                chunks.append(spec.encode(*watcher.items.popleft()) + b"\n")
            await send(chunks)
            continue
        if watcher.closed:
            return
        if pending_initial_bookmark:
            # Initial state / replay delivered: tell the client where it stands.
            pending_initial_bookmark = False
            await send(bookmark(spec.initial_end))
            continue
        if spec.bookmarks and now >= next_bookmark:
            next_bookmark = now + bookmark_interval
            await send(bookmark())
            continue
        wait = min(deadline, next_bookmark if spec.bookmarks else deadline) - now
        watcher.wakeup.clear()
        if not watcher.items and not watcher.closed:
            try:
                await asyncio.wait_for(watcher.wakeup.wait(), max(wait, 0.001))
            except asyncio.TimeoutError:
                pass


async def serve(watcher: Watcher, spec: WatchSpec, live: set[Watcher], bookmark_interval: float,
                send: Callable[[list[bytes]], Awaitable[None]],
                closed: type[BaseException]) -> None:
    """Pump a started watcher while it is listed in `live` (where faults and shutdown find
    it); the client going away (`closed`) ends it quietly."""
    live.add(watcher)
    try:
        await pump(watcher, spec, bookmark_interval, send)
    except closed:
        pass
    finally:
        watcher.close()
        live.discard(watcher)
