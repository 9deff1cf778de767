"""Informers: one list + watch per key, fanned out to every subscriber of the key.

The key is a target with the service account (shared mode, and auto mode where the service
account may watch the target) or a target with one user's token (per-user mode, and auto mode
otherwise: all that user's sockets and tabs share it).

The informer keeps the current objects (as serialised JSON, to send new subscribers their
ADDED events) and a bounded history of recent events (so a subscriber arriving with a
resourceVersion gets exactly what it missed). A broken watch resumes from the last
resourceVersion; 410 Gone relists and sends the differences against the cache.
"""
from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from typing import TYPE_CHECKING, Any, Iterator

from odh_core import KubeUnavailable

from .backoff import backoff_delay
from .listing import ListFailed, Listing, list_target
from .resources import Target
from .subscriber import Subscriber
from .upstream import Denied, Expired, WatchStream, numeric_rv, object_rv

if TYPE_CHECKING:  # pragma: no cover
    from .hub import WatchHub

MODE = "shared"
AUTO = "auto"
ObjKey = tuple[str, str]


def _key(obj: dict[str, Any]) -> ObjKey:
    meta = obj.get("metadata") or {}
    return (str(meta.get("namespace") or ""), str(meta.get("name") or ""))


def _frame(etype: str, raw: bytes) -> bytes:
    return b'{"type":"' + etype.encode() + b'","object":' + raw + b"}"


def _dump(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


class Informer:
    def __init__(self, hub: "WatchHub", target: Target, start_rv: str, token: Any, mode: str,
                 key: Any):
        self.hub = hub
        self.target = target
        self.token = token  # SERVICE_ACCOUNT, or the one user every subscriber here is
        self.mode = mode    # the metrics label
        self.key = key      # in hub.informers
        self.log: logging.Logger = hub.log
        self.cache: dict[ObjKey, tuple[str, bytes]] = {}   # key -> (resourceVersion, JSON)
        self.subscribers: set[Subscriber] = set()
        self.waiting = 0                  # subscribers admitted but waiting for the first list
        self.ready = asyncio.Event()
        self.failure: Denied | None = None
        self.history: deque[tuple[int, bytes]] = deque()
        self.floor: int | None = None     # history holds every event with rv > floor
        self.list_rv: int | None = None   # events at or below it are replays, not news
        self.cache_rv: int | None = None  # the rv the cache reflects
        # Watching from the first subscriber's rv (older than our list) fills the history
        # with what happened between its list and ours: no event lost for it.
        self.start_rv = start_rv if numeric_rv(start_rv) is not None else ""
        self.stream = WatchStream(hub.kube, target, token, hub.cfg, hub.metrics, mode,
                                  self._on_event, self.log)
        self.closed = False
        self._task: asyncio.Task[None] | None = None
        self._recheck: asyncio.Task[None] | None = None
        self._recheck_now = asyncio.Event()  # set on an RBAC change: review before the TTL
        self._linger: asyncio.TimerHandle | None = None

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"informer {self.target}")
        self._recheck = asyncio.create_task(self._recheck_loop())

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._linger is not None:
            self._linger.cancel()
        for task in (self._task, self._recheck):
            if task is not None:
                task.cancel()
        self.hub.forget(self)

    def hold(self) -> None:
        """A subscriber is on its way in: cancel a pending linger close."""
        self.waiting += 1
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None

    def unhold(self) -> None:
        self.waiting -= 1
        self._maybe_linger()

    def leave(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)
        self._maybe_linger()

    def _maybe_linger(self) -> None:
        if self.subscribers or self.waiting > 0 or self.closed:
            return
        if self.hub.cfg.linger_seconds <= 0:
            self.close()
        elif self._linger is None:
            self._linger = asyncio.get_running_loop().call_later(
                self.hub.cfg.linger_seconds, self.close)

    # -- the upstream side -----------------------------------------------------------------
    async def _run(self) -> None:
        attempt, first = 0, True
        while True:
            try:
                listing = await list_target(self.hub.kube, self.target, self.token)
            except Denied as exc:
                self._fail(exc)
                return
            except (ListFailed, KubeUnavailable) as exc:
                self.log.info("listing %s failed (%s); retrying", self.target.describe(), exc)
                await asyncio.sleep(backoff_delay(attempt, self.hub.cfg.backoff_initial_seconds,
                                                  self.hub.cfg.backoff_max_seconds))
                attempt += 1
                continue
            attempt = 0
            start = self._apply_listing(listing, announce=not first)
            if first:
                first = False
                self.ready.set()
            try:
                await self.stream.run(start)
            except Expired:
                self.log.info("watch of %s expired (410): relisting", self.target.describe())
                self.start_rv = ""
                continue
            except Denied as exc:
                self._fail(exc)
                return

    def _apply_listing(self, listing: Listing, announce: bool) -> str:
        """Replace the cache; with `announce`, send subscribers the differences. Returns the
        resourceVersion to watch from."""
        fresh = {_key(item): (object_rv(item), item) for item in listing.items}
        if announce:
            for key, (rv, raw) in list(self.cache.items()):
                if key not in fresh:
                    self._broadcast(_frame("DELETED", raw), None)
            for key, (rv, item) in fresh.items():
                old = self.cache.get(key)
                if old is None:
                    self._broadcast(_frame("ADDED", _dump(item)), None)
                elif old[0] != rv:
                    self._broadcast(_frame("MODIFIED", _dump(item)), None)
        self.cache = {key: (rv, _dump(item)) for key, (rv, item) in fresh.items()}
        self.list_rv = self.cache_rv = numeric_rv(listing.rv)
        self.history.clear()
        start = listing.rv
        first_rv = numeric_rv(self.start_rv)
        if first_rv is not None and self.list_rv is not None and first_rv < self.list_rv:
            start = self.start_rv
        self.floor = numeric_rv(start)
        return start

    def _on_event(self, etype: str, obj: dict[str, Any], line: bytes) -> None:
        rv = numeric_rv(object_rv(obj))
        if etype == "BOOKMARK":
            # Forwarded to the subscribers that asked (allowWatchBookmarks): its
            # resourceVersion is one they may resume from here. Not history, not the cache.
            for sub in tuple(self.subscribers):
                if sub.bookmarks:
                    sub.deliver(line, rv)
            return
        replay = rv is not None and self.list_rv is not None and rv <= self.list_rv
        if not replay:  # events up to our list are already in the cache
            key = _key(obj)
            if etype == "DELETED":
                self.cache.pop(key, None)
            else:
                self.cache[key] = (object_rv(obj), _dump(obj))
            if rv is not None:
                self.cache_rv = rv
        if rv is not None and self.hub.cfg.history_events > 0:
            self.history.append((rv, line))
            if len(self.history) > self.hub.cfg.history_events:
                self.floor = self.history.popleft()[0]
        elif rv is None:
            self.floor = None  # opaque resourceVersions: no replay by comparison
        self._broadcast(line, rv)

    def _broadcast(self, frame: bytes, rv: int | None) -> None:
        for sub in tuple(self.subscribers):
            sub.deliver(frame, rv)

    @property
    def as_service_account(self) -> bool:
        return not isinstance(self.token, str)

    def failure_close(self) -> tuple[int, str]:
        """The close code and reason for subscribers of a failed informer."""
        assert self.failure is not None
        if self.as_service_account:
            return 1011, "odh-core cannot watch this resource"
        return (1008 if self.failure.status in (401, 403) else 1011,
                f"the API server refused the watch ({self.failure.status})")

    def _fail(self, exc: Denied) -> None:
        self.failure = exc
        if self.as_service_account:
            self.log.warning("the service account may not watch %s (%d): %s",
                             self.target.describe(), exc.status, exc.message)
            self.hub.service_account_lost(self.target)
        else:
            self.hub.metrics.access_denied.labels(self.mode).inc()
        self.ready.set()  # wake the waiting subscribers: they read `failure`
        code, reason = self.failure_close()
        for sub in tuple(self.subscribers):
            sub.close(code, reason)
        self.subscribers.clear()
        self.close()

    # -- the subscriber side ---------------------------------------------------------------
    def admit(self, sub: Subscriber, rv: str) -> Iterator[bytes]:
        """Register `sub` and return its initial frames. Synchronous on purpose: every event
        after this call reaches `sub` (through its backlog while it catches up)."""
        wanted = numeric_rv(rv) if rv not in ("", "0") else None
        sub.backlog = deque()
        self.subscribers.add(sub)
        if wanted is not None and self.floor is not None and wanted >= self.floor:
            sub.skip_until = wanted   # the client already has everything up to its rv
            return iter([line for r, line in self.history if r > wanted])
        sub.skip_until = self.cache_rv  # replays of what the snapshot already holds
        return (_frame("ADDED", raw) for _, raw in list(self.cache.values()))

    def recheck_soon(self) -> None:
        """Repeat the access reviews now, not at the end of the TTL (an RBAC object changed)."""
        self._recheck_now.set()

    async def _recheck_loop(self) -> None:
        """Repeat each subscriber's access review on the TTL, or at once after an RBAC change;
        access lost ends with 1008."""
        ttl = self.hub.cfg.access_ttl_seconds
        while True:
            try:
                await asyncio.wait_for(self._recheck_now.wait(), ttl)
            except asyncio.TimeoutError:
                pass
            self._recheck_now.clear()
            tokens = {sub.token for sub in self.subscribers}
            verdicts = dict(zip(tokens, await asyncio.gather(
                *(self.hub.access.allowed(t, self.target, fresh=True) for t in tokens),
                return_exceptions=True)))
            for sub in tuple(self.subscribers):
                verdict = verdicts.get(sub.token, True)
                if verdict is False:  # an unreachable API server is not a revocation
                    self.hub.metrics.access_denied.labels(self.mode).inc()
                    self.subscribers.discard(sub)
                    sub.close(1008, "access to this resource was revoked")
            self._maybe_linger()
