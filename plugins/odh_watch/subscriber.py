"""One WebSocket client as a sink for frames, with a bound on what may wait unsent.

`deliver` never awaits: the fan-out loop hands each client its frame and moves on, so one
slow client cannot hold up the others. Tornado queues the frame on the connection and returns
a future that resolves once it reached the kernel; the frames and bytes not yet resolved are
this client's backlog. Past the bound the client is closed (1013 / 1008) instead of buffered.
"""
from __future__ import annotations

import asyncio
from collections import deque
from typing import Any, Callable, Iterable

from tornado.iostream import StreamClosedError
from tornado.websocket import WebSocketClosedError


class Subscriber:
    __slots__ = ("handler", "token", "max_frames", "max_bytes", "slow_code", "on_slow",
                 "count", "pending_frames", "pending_bytes", "closed", "backlog",
                 "backlog_bytes", "skip_until", "bookmarks", "_drained", "__weakref__")

    def __init__(self, handler: Any, token: str, *, max_frames: int, max_bytes: int,
                 slow_code: int, on_slow: Callable[[], None], count: Callable[[int], None]):
        self.handler = handler
        self.token = token
        self.max_frames = max_frames
        self.max_bytes = max_bytes
        self.slow_code = slow_code
        self.on_slow = on_slow
        self.count = count
        self.pending_frames = 0
        self.pending_bytes = 0
        self.closed = False
        # While the initial state is being sent, live frames wait here (bounded as well).
        self.backlog: deque[bytes] | None = None
        self.backlog_bytes = 0
        # Shared mode: live events at or below this resourceVersion were already replayed.
        self.skip_until: int | None = None
        self.bookmarks = False  # the client asked for BOOKMARK events (allowWatchBookmarks)
        self._drained: asyncio.Event | None = None

    # -- the fan-out side ---------------------------------------------------------------
    def deliver(self, frame: bytes, rv: int | None = None) -> None:
        if self.closed:
            return
        if self.skip_until is not None:
            if rv is not None and rv <= self.skip_until:
                return
            self.skip_until = None
        if self.backlog is not None:
            self.backlog.append(frame)
            self.backlog_bytes += len(frame)
            if len(self.backlog) > self.max_frames or self.backlog_bytes > self.max_bytes:
                self.drop_slow()
            return
        self._write(frame)

    def _write(self, frame: bytes) -> bool:
        size = len(frame)
        # A single frame may be larger than the byte bound; a queue of them may not.
        if self.pending_frames and (self.pending_frames >= self.max_frames
                                    or self.pending_bytes + size > self.max_bytes):
            self.drop_slow()
            return False
        try:
            fut = self._send(frame)
        except (WebSocketClosedError, StreamClosedError):
            self.closed = True
            return False
        self.pending_frames += 1
        self.pending_bytes += size
        fut.add_done_callback(lambda f, n=size: self._written(f, n))
        self.count(1)
        return True

    def _send(self, frame: bytes) -> "asyncio.Future[None]":
        """Queue one text frame on the connection.

        Tornado's `write_message` wraps every frame in a new task (to translate errors); at a
        thousand subscribers that is a thousand tasks per event. Writing the frame directly
        gives the stream's own future, which is all the backlog accounting needs. Tornado is
        pinned (constraints.txt); without the method, or with compression on, fall back.
        """
        conn = self.handler.ws_connection
        if conn is None:
            raise WebSocketClosedError()
        write_frame = getattr(conn, "_write_frame", None)
        if write_frame is None or getattr(conn, "_compressor", None) is not None:
            return self.handler.write_message(frame)  # bytes, binary=False: a text frame
        return write_frame(True, 0x1, frame)

    def _written(self, fut: "asyncio.Future[None]", size: int) -> None:
        self.pending_frames -= 1
        self.pending_bytes -= size
        if not fut.cancelled() and fut.exception() is not None:
            self.closed = True  # the exception is retrieved: no "never retrieved" noise
        if self._drained is not None and not self._busy(4):
            self._drained.set()

    def drop_slow(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.backlog = None
        self.on_slow()
        self.handler.close(self.slow_code, "client too slow: send queue over its bound")

    def close(self, code: int, reason: str) -> None:
        if not self.closed:
            self.closed = True
            self.backlog = None
            self.handler.close(code, reason)

    # -- paced sending (initial state, replay) -------------------------------------------
    def _busy(self, fraction: int) -> bool:
        return self.pending_frames > self.max_frames // fraction \
            or self.pending_bytes > self.max_bytes // fraction

    async def _wait_drained(self) -> None:
        while not self.closed and self._busy(4):
            self._drained = asyncio.Event()
            await self._drained.wait()
        self._drained = None

    async def send_paced(self, frames: Iterable[bytes]) -> None:
        """Write frames with backpressure: wait for the socket to drain below the low mark."""
        for frame in frames:
            if self.closed:
                return
            if self._busy(2):
                await self._wait_drained()
                if self.closed:
                    return
            self._write(frame)

    async def catch_up(self, frames: Iterable[bytes]) -> None:
        """Send the initial frames, then what arrived meanwhile, then go live."""
        await self.send_paced(frames)
        while not self.closed and self.backlog:
            batch, self.backlog = self.backlog, deque()
            self.backlog_bytes = 0
            await self.send_paced(batch)
        self.backlog = None  # no await since the check above: nothing can slip in between
