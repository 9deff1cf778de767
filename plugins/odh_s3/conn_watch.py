"""Watches on the dashboard S3 connections in use, with each caller's own token.

A connection read for a caller is reused for `connection_ttl` seconds; where the caller may
watch the Secret, a watch (their token, that one Secret) tells at once when it changes or
goes, so changed keys and deleted connections take effect before the TTL runs out. The TTL
still bounds every reading: the API server does not end a watch when RBAC changes, so only a
re-read notices revoked access. Bounded: at most `max_watches` open (the least recently used
one stops first), and a watch unused for `idle` seconds stops. A caller who may not watch
(403) or whose token expired (401) is left to the TTL.
"""
from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any, Awaitable, Callable

from .watch import SecretWatch

Key = tuple[str, str, str]  # (caller token hash, namespace, name)


class ConnectionWatches:
    def __init__(self, on_change: Callable[[Key], Awaitable[None]], *, max_watches: int = 256,
                 idle: float = 300.0):
        self.on_change = on_change
        self.max_watches = max_watches
        self.idle = idle
        self._watches: OrderedDict[Key, tuple[SecretWatch, float]] = OrderedDict()
        self._refused: OrderedDict[Key, None] = OrderedDict()  # may not watch: TTL only

    def touch(self, key: Key) -> None:
        entry = self._watches.get(key)
        if entry is not None:
            self._watches[key] = (entry[0], time.monotonic())
            self._watches.move_to_end(key)

    def watching(self, key: Key) -> bool:
        entry = self._watches.get(key)
        return entry is not None and entry[0].active

    async def ensure(self, kube: Any, token: str, key: Key) -> None:
        """Start a watch for `key` unless one runs or the caller may not watch."""
        entry = self._watches.get(key)
        if entry is not None and not entry[0].done:
            return
        if entry is not None:  # ended: forbidden or token gone
            self._watches.pop(key)
            self._refused[key] = None
            while len(self._refused) > 4 * self.max_watches:
                self._refused.popitem(last=False)
        if key in self._refused:
            return
        _, namespace, name = key

        async def changed(event: dict[str, Any] | None) -> None:
            # ADDED is the initial state (or a re-creation, after a DELETED we acted on)
            if event is not None and event.get("type") in ("MODIFIED", "DELETED"):
                await self.on_change(key)

        watch = SecretWatch(kube, f"/api/v1/namespaces/{namespace}/secrets",
                            {"fieldSelector": f"metadata.name={name}"}, changed, token=token)
        self._watches[key] = (watch, time.monotonic())
        watch.start()
        while len(self._watches) > self.max_watches:
            _, (old, _) = self._watches.popitem(last=False)
            await old.stop()

    async def reap(self) -> None:
        """Stop watches nobody used for `idle` seconds."""
        now = time.monotonic()
        for key in [k for k, (_, used) in self._watches.items() if now - used > self.idle]:
            watch, _ = self._watches.pop(key)
            await watch.stop()

    async def close(self) -> None:
        for watch, _ in list(self._watches.values()):
            await watch.stop()
        self._watches.clear()
