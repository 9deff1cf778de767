"""Server-sent events for progress streams (uploads, imports)."""
from __future__ import annotations

from typing import Any

from tornado.iostream import StreamClosedError

from .jsonwire import dumps


class EventStream:
    """Write `text/event-stream` on a handler; `send` returns False once the client is gone.

    Each `send` flushes, so the client sees the event at once; awaiting the flush is the
    backpressure (a slow reader slows the producer instead of growing a buffer).
    """

    def __init__(self, handler: Any):
        self.handler = handler
        self.closed = False
        self._counted = False
        handler.set_header("Content-Type", "text/event-stream; charset=utf-8")
        handler.set_header("Cache-Control", "no-cache")
        handler.set_header("X-Accel-Buffering", "no")  # nginx/haproxy must not hold events

    async def _count(self) -> None:
        """Before the first byte: the stream counts against the caller's stream limit (429
        while nothing is sent yet)."""
        if not self._counted:
            self._counted = True
            await self.handler.acquire_stream("events")

    async def send(self, data: Any, event: str | None = None, id: str | None = None) -> bool:
        if self.closed:
            return False
        await self._count()
        payload = data if isinstance(data, str) else dumps(data)
        lines = [f"event: {event}"] if event else []
        if id is not None:
            lines.append(f"id: {id}")
        lines.extend(f"data: {line}" for line in payload.split("\n"))
        try:
            self.handler.write("\n".join(lines) + "\n\n")
            await self.handler.flush()
        except StreamClosedError:
            self.closed = True
            return False
        return True

    async def comment(self, text: str = "keep-alive") -> bool:
        if self.closed:
            return False
        await self._count()
        try:
            self.handler.write(f": {text}\n\n")
            await self.handler.flush()
        except StreamClosedError:
            self.closed = True
            return False
        return True

    def finish(self) -> None:
        if not self.handler._finished:
            try:
                self.handler.finish()
            except StreamClosedError:
                pass
        self.closed = True
