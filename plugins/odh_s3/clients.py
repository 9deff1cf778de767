"""A bounded pool of aiobotocore S3 clients, one per distinct connection (endpoint + keys ...).

Every source (the shared S3, a user's own settings, a dashboard connection) maps to an
`S3Connection`; requests on the same connection share one client and its keep-alive sockets,
so a per-user source costs no extra round trip once its client exists. The pool holds at
most `max_clients` live clients: the least recently used one without leases is retired when a
new one is needed, and a connection whose credentials changed or whose Secret was deleted is
retired at once. A retired client is closed when its last lease ended and `grace` seconds
passed (plain `client()` callers hold no lease: the grace lets their call finish).
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Hashable, TypeVar

from .connection import S3Connection, new_session

log = logging.getLogger("odh.plugin.s3")
RETIRE_GRACE_S = 30.0
T = TypeVar("T")


async def once(pending: dict[Any, "asyncio.Future[Any]"], key: Hashable,
               start: Callable[[], Awaitable[T]]) -> T:
    """Run `start()` once for `key` however many callers ask while it runs; each waits for
    the same result (shielded: a caller that gives up does not cancel it for the others)."""
    fut = pending.get(key)
    if fut is None:
        fut = asyncio.ensure_future(start())
        pending[key] = fut
        fut.add_done_callback(lambda _f: pending.pop(key, None))
    return await asyncio.shield(fut)


@dataclass(eq=False)
class PooledClient:
    conn: S3Connection
    client: Any
    stack: AsyncExitStack
    leases: int = 0
    retired_at: float | None = None
    closed: bool = False

    def acquire(self) -> Callable[[], None]:
        self.leases += 1
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self.leases -= 1

        return release


class ClientPool:
    def __init__(self, max_clients: int = 64, grace: float = RETIRE_GRACE_S):
        self.max_clients = max_clients
        self.grace = grace
        self._live: OrderedDict[S3Connection, PooledClient] = OrderedDict()
        self._opening: dict[S3Connection, asyncio.Future[PooledClient]] = {}
        self._retired: list[PooledClient] = []
        self._session: Any = None
        self.opened = 0  # clients created since start (tests and metrics read it)

    def __len__(self) -> int:
        return len(self._live)

    def peek(self, conn: S3Connection) -> PooledClient | None:
        """The live client for `conn` without creating one (the hot path: a dict lookup)."""
        entry = self._live.get(conn)
        if entry is not None:
            self._live.move_to_end(conn)
        return entry

    async def get(self, conn: S3Connection) -> PooledClient:
        entry = self.peek(conn)
        if entry is not None:
            return entry
        return await once(self._opening, conn, lambda: self._open(conn))

    async def _open(self, conn: S3Connection) -> PooledClient:
        if self._session is None:
            self._session = await new_session()
        stack = AsyncExitStack()
        client = await stack.enter_async_context(
            self._session.create_client("s3", **conn.client_kwargs()))
        entry = PooledClient(conn, client, stack)
        self.opened += 1
        self._live[conn] = entry
        log.debug("S3 client for %s (bucket %r)", conn.endpoint or "AWS", conn.default_bucket)
        self._trim()
        return entry

    def _trim(self) -> None:
        while len(self._live) > self.max_clients:
            victim = next((c for c, e in self._live.items() if e.leases == 0), None)
            if victim is None:
                return  # everything is busy: over the bound until leases end
            self.retire(victim)

    def retire(self, conn: S3Connection) -> None:
        entry = self._live.pop(conn, None)
        if entry is not None:
            entry.retired_at = time.monotonic()
            self._retired.append(entry)

    def retire_where(self, predicate: Callable[[S3Connection], bool]) -> None:
        for conn in [c for c in self._live if predicate(c)]:
            self.retire(conn)

    async def reap(self, force: bool = False) -> None:
        now = time.monotonic()
        keep = []
        for entry in self._retired:
            if force or (entry.leases == 0 and now - (entry.retired_at or now) >= self.grace):
                await self._close(entry)
            else:
                keep.append(entry)
        self._retired = keep

    @staticmethod
    async def _close(entry: PooledClient) -> None:
        if not entry.closed:
            entry.closed = True
            try:
                await entry.stack.aclose()
            except Exception:  # pragma: no cover - closing must not fail shutdown
                log.exception("closing an S3 client failed")

    async def close(self) -> None:
        for conn in list(self._live):
            self.retire(conn)
        await self.reap(force=True)
