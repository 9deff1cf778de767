"""Split a streamed HTTP body into lines with a bound on the line length."""
from __future__ import annotations

from typing import TYPE_CHECKING, AsyncIterator

if TYPE_CHECKING:  # pragma: no cover
    import aiohttp


class LineTooLong(ValueError):
    pass


async def read_lines(content: aiohttp.StreamReader, limit: int) -> AsyncIterator[bytes]:
    """Yield each `\\n`-terminated line (without the newline); a trailing partial line at the
    end of the stream is yielded too. Raises LineTooLong instead of growing without bound."""
    buf = bytearray()
    async for chunk in content.iter_any():
        scan = len(buf)  # the bytes before this chunk hold no newline
        buf += chunk
        start = 0
        while True:
            nl = buf.find(b"\n", scan)
            if nl < 0:
                break
            line = bytes(buf[start:nl])
            start = scan = nl + 1
            if line.strip():
                yield line
        if start:
            del buf[:start]
        if len(buf) > limit:
            raise LineTooLong(f"an upstream line exceeds {limit} bytes")
    if buf.strip():
        yield bytes(buf)
