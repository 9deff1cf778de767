"""Transfer limits: each user's `maxConcurrentTransfers` (bounded by the admin maximum) and a
server-wide cap, shared with the hf plugin through `SourceAccess.transfers`."""
from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import AsyncIterator, Callable


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
        self.waiting = 0
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
            self.waiting += 1
            try:
                await self._cond.wait_for(lambda: self._active < self._limit)
            finally:
                self.waiting -= 1
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


class UserSlots:
    """Per-user limiters (each at min(the user's value, the admin maximum)) under one
    server-wide limiter. A user's limiter exists while they transfer or wait."""

    def __init__(self, admin_max: int, total: int):
        self.admin_max = admin_max
        self.total = TransferLimiter(total)
        self._users: dict[str, TransferLimiter] = {}

    def limit_for(self, preferred: int | None) -> int:
        return max(1, min(preferred or self.admin_max, self.admin_max))

    def active(self, user: str) -> int:
        lim = self._users.get(user)
        return lim.active if lim else 0

    @asynccontextmanager
    async def slot(self, user: str, preferred: int | None = None) -> AsyncIterator[None]:
        want = self.limit_for(preferred)
        lim = self._users.get(user)
        if lim is None:
            lim = self._users[user] = TransferLimiter(want)
        elif lim.limit != want:
            await lim.set_limit(want)
        try:
            async with lim.slot():
                async with self.total.slot():
                    yield
        finally:
            if lim.active == 0 and lim.waiting == 0 and self._users.get(user) is lim:
                del self._users[user]


class SlotView:
    """What `SourceAccess.transfers` is: the owner's slots, with the old limiter's names."""

    def __init__(self, slots: UserSlots, user: str, preferred: Callable[[], int | None]):
        self._slots = slots
        self._user = user
        self._preferred = preferred

    @property
    def limit(self) -> int:
        return self._slots.limit_for(self._preferred())

    @property
    def active(self) -> int:
        return self._slots.active(self._user)

    @property
    def busy(self) -> bool:
        return self.active > 0

    def slot(self) -> AbstractAsyncContextManager[None]:
        return self._slots.slot(self._user, self._preferred())
