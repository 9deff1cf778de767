"""The server-wide transfer limiter (`maxConcurrentTransfers`), shared with the hf plugin."""
from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import AsyncIterator


class TransferLimiter:
    """At most `limit` transfers at once, server-wide; `set_limit` takes effect at once.

    Use `async with limiter.slot(): ...`. Lowering the limit never interrupts running
    transfers: new ones wait until the count drops below it. Waiters are served FIFO.
    """

    def __init__(self, limit: int):
        if limit < 1:
            raise ValueError("the transfer limit must be >= 1")
        self._limit = limit
        self._active = 0
        self._cond = asyncio.Condition()

    @property
    def limit(self) -> int:
        return self._limit

    @property
    def active(self) -> int:
        return self._active

    @property
    def busy(self) -> bool:
        return self._active > 0

    async def set_limit(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("the transfer limit must be >= 1")
        async with self._cond:
            self._limit = limit
            self._cond.notify_all()

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        async with self._cond:
            await self._cond.wait_for(lambda: self._active < self._limit)
            self._active += 1
        try:
            yield
        finally:
            # Shielded so a cancelled transfer still gives its slot back.
            await asyncio.shield(self._release())

    async def _release(self) -> None:
        async with self._cond:
            self._active -= 1
            self._cond.notify_all()
