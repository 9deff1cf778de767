"""The S3 access the s3 plugin publishes as `app.service("s3.access")` (for the hf plugin).

Other plugins never import `odh_s3`; they ask the app for the service and use this interface:

    access = app.service("s3.access")          # None when the s3 plugin is not enabled
    access.configured -> bool                   # False: no S3 settings (routes answer 503)
    access.default_bucket -> str                # the configured default bucket ("" if none)
    client = await access.client()              # the current aiobotocore S3 client
    async with access.lease() as client: ...    # the same, kept open for a long operation even
                                                # if an admin changes the settings meanwhile
    async with access.transfers.slot(): ...     # one of `maxConcurrentTransfers` server-wide
                                                # slots; a change of the setting applies at once
    access.transfers.busy / .active / .limit
    writer = access.multipart_writer(bucket, key, expected_size=None, content_type=None,
                                     max_in_flight=None)  # sync; raises S3NotConfigured
        await writer.write(chunk)               # buffers to part size, bounded parts in flight
        await writer.complete() -> dict         # {"Bucket","Key","ETag","Size","Parts"}
        await writer.abort() -> bool            # no partial object, no open multipart upload
        writer.bytes_written / writer.bytes_uploaded
    access.transfer_started(kind, key) / access.transfer_finished(handle)
                                                # register a running transfer so the idle
                                                # culler (/api/kernels) sees the server busy

`multipart_writer` holds a lease on the client until the writer completes or aborts, so a
settings change never closes a client under a running upload. `client()` raises
`S3NotConfigured` (a 503 `ApiError`) when nothing is configured.

All clients are created in `startup` from the settings generation in force and closed in
`shutdown` or once a newer generation replaced them and their last lease ended.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import time
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, AsyncIterator

from odh_core import ApiError

from .connection import S3Connection, new_session
from .multipart import DEFAULT_IN_FLIGHT, MultipartWriter
from .transfers import TransferLimiter

log = logging.getLogger("odh.plugin.s3")

# A retired client with no leases is closed after this many seconds, so plain `client()`
# callers (who hold no lease) can finish the call they started.
RETIRE_GRACE_S = 30.0


class S3NotConfigured(ApiError):
    def __init__(self) -> None:
        super().__init__(503, "S3 is not configured: set the S3 connection (PUT "
                         "/api/settings/s3, env AWS_S3_ENDPOINT / AWS_ACCESS_KEY_ID / "
                         "AWS_SECRET_ACCESS_KEY, or plugins.s3 in the config file)")


@dataclass
class _Generation:
    number: int
    conn: S3Connection
    client: Any
    stack: AsyncExitStack
    leases: int = 0
    retired_at: float | None = None
    closed: bool = False


@dataclass
class Transfer:
    """A running transfer, visible to /api/kernels (busy) and per-user aborts."""

    id: int
    kind: str  # "upload" | "download" | "import"
    key: str
    user: str | None = None
    started: float = field(default_factory=time.time)
    cancel: Any = None  # callable aborting it, or None


class S3Access:
    """Owns the aiobotocore clients (one per settings generation) and the transfer limiter."""

    def __init__(self, conn: S3Connection, max_transfers: int, *,
                 parts_in_flight: int = DEFAULT_IN_FLIGHT, part_size: int | None = None):
        self._conn = conn
        self._session: Any = None  # made with the first client (see connection.py)
        self._gen: _Generation | None = None
        self._retired: list[_Generation] = []
        self._numbers = itertools.count(1)
        self._lock = asyncio.Lock()
        self.transfers = TransferLimiter(max_transfers)
        self.parts_in_flight = parts_in_flight
        self.part_size = part_size
        self.running: dict[int, Transfer] = {}
        self._transfer_ids = itertools.count(1)

    # -- settings generations -----------------------------------------------------------------
    @property
    def connection(self) -> S3Connection:
        return self._conn

    @property
    def configured(self) -> bool:
        return self._conn.configured

    @property
    def default_bucket(self) -> str:
        return self._conn.default_bucket

    @property
    def generation(self) -> int:
        return self._gen.number if self._gen else 0

    async def start(self) -> None:
        await self.apply(self._conn, force=True)

    async def apply(self, conn: S3Connection, *, force: bool = False) -> bool:
        """Switch to `conn`; a new client only when something the client uses changed."""
        async with self._lock:
            if not force and conn == self._conn and (self._gen or not conn.configured):
                return False
            old = self._gen
            self._conn = conn
            self._gen = await self._open(conn) if conn.configured else None
            if old is not None:
                old.retired_at = time.monotonic()
                self._retired.append(old)
            await self._reap()
            return True

    async def _open(self, conn: S3Connection) -> _Generation:
        if self._session is None:
            self._session = await new_session()
        stack = AsyncExitStack()
        client = await stack.enter_async_context(
            self._session.create_client("s3", **conn.client_kwargs()))
        gen = _Generation(next(self._numbers), conn, client, stack)
        log.info("S3 client generation %d for %s (bucket %r)", gen.number,
                 conn.endpoint or "AWS", conn.default_bucket)
        return gen

    async def _reap(self, force: bool = False) -> None:
        now = time.monotonic()
        keep = []
        for gen in self._retired:
            if force or (gen.leases == 0 and now - (gen.retired_at or now) >= RETIRE_GRACE_S):
                await self._close(gen)
            else:
                keep.append(gen)
        self._retired = keep

    @staticmethod
    async def _close(gen: _Generation) -> None:
        if not gen.closed:
            gen.closed = True
            try:
                await gen.stack.aclose()
            except Exception:  # pragma: no cover - closing must not fail shutdown
                log.exception("closing S3 client generation %d failed", gen.number)

    async def close(self) -> None:
        async with self._lock:
            if self._gen is not None:
                self._retired.append(self._gen)
                self._gen = None
            await self._reap(force=True)

    async def reap(self) -> None:
        """Close retired clients whose grace ran out (called periodically by the plugin)."""
        async with self._lock:
            await self._reap()

    # -- clients ------------------------------------------------------------------------------
    def _current(self) -> _Generation:
        if self._gen is None:
            raise S3NotConfigured()
        return self._gen

    async def client(self) -> Any:
        """The current client (for one call; use `lease()` for longer work)."""
        return self._current().client

    @asynccontextmanager
    async def lease(self) -> AsyncIterator[Any]:
        gen = self._current()
        gen.leases += 1
        try:
            yield gen.client
        finally:
            gen.leases -= 1

    def _acquire(self) -> tuple[Any, Any]:
        gen = self._current()
        gen.leases += 1

        def release() -> None:
            gen.leases -= 1

        return gen.client, release

    def multipart_writer(self, bucket: str, key: str, *, expected_size: int | None = None,
                         content_type: str | None = None,
                         metadata: dict[str, str] | None = None,
                         max_in_flight: int | None = None) -> MultipartWriter:
        """A `MultipartWriter` on the current client (leased until it completes or aborts).

        `max_in_flight` lowers the parts uploading at once for this writer (never above the
        configured `parts_in_flight`): callers running many transfers trade speed for memory.
        """
        client, release = self._acquire()
        in_flight = self.parts_in_flight if max_in_flight is None else max(
            1, min(max_in_flight, self.parts_in_flight))
        return MultipartWriter(client, bucket, key, expected_size=expected_size,
                               content_type=content_type, part_size=self.part_size,
                               max_in_flight=in_flight, metadata=metadata,
                               on_release=release)

    # -- running transfers (culler, aborts) ---------------------------------------------------
    def transfer_started(self, kind: str, key: str, user: str | None = None,
                         cancel: Any = None) -> Transfer:
        t = Transfer(next(self._transfer_ids), kind, key, user, cancel=cancel)
        self.running[t.id] = t
        return t

    def transfer_finished(self, transfer: Transfer) -> None:
        self.running.pop(transfer.id, None)

    @property
    def busy(self) -> bool:
        return bool(self.running) or self.transfers.busy
