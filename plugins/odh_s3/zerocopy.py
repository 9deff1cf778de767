"""Zero-copy download relay: S3's socket -> a pipe -> the client's socket, with splice(2).

A download through odh-core is a relay, and relaying in Python costs what the bytes cost:
aiohttp copies every 256 KiB it receives into a new object, Tornado queues and sends it, and
the loop runs a few hundred microseconds of Python per chunk (bench.s3 measured 0.55-0.68
CPU-seconds per GiB in user code, the same again in the kernel, and half the throughput of
reading S3 directly). splice(2) moves the pages from one socket to the other inside the
kernel, a pipe's worth (1 MiB) per call, with no user-space copy at all.

It applies when both ends are plain TCP (S3 over http, clients over http: an in-cluster
object store behind odh-core's route, the common ODH-TEC deployment) on Linux, and S3 sent a
Content-Length body; anything else takes the ordinary relay. aiobotocore still makes the
request (signing, retries, errors, Range, conditional requests): only the body, once S3's
headers have arrived, goes through the kernel. The S3 connection is closed afterwards, as
aiohttp's parser never saw the body.
"""
from __future__ import annotations

import asyncio
import fcntl
import os
from typing import Any

PIPE_SIZE = 1 << 20  # bytes in flight inside the kernel; also the most a download holds
_SPLICE = getattr(os, "splice", None)
_FLAGS = getattr(os, "SPLICE_F_MOVE", 0) | getattr(os, "SPLICE_F_NONBLOCK", 0)
_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", None)


class UpstreamEnded(Exception):
    """S3 closed the connection before the whole body was sent."""


class UpstreamStalled(Exception):
    """S3 sent nothing for longer than the read timeout."""


class ClientGone(Exception):
    """The client's socket refused more bytes (reset or closed)."""


def supported() -> bool:
    return _SPLICE is not None


def s3_socket(body: Any) -> Any | None:
    """The plain-TCP socket an aiobotocore body arrives on, or None when it cannot be
    spliced (TLS, chunked or unknown length, already fully read, not aiohttp)."""
    resp = getattr(body, "raw_stream", None)
    conn = getattr(resp, "connection", None)
    transport = getattr(conn, "transport", None)
    if transport is None or conn.protocol is None:
        return None
    if transport.get_extra_info("sslcontext") is not None:
        return None
    headers = resp.headers
    if "chunked" in headers.get("Transfer-Encoding", "").lower() or (
            resp.content_length is None or headers.get("Content-Encoding")):
        return None
    return transport.get_extra_info("socket")


def take_over(body: Any) -> bytes:
    """Stop aiohttp reading the body and return what it had buffered already; the rest is
    still in the kernel, on the socket. Synchronous on purpose: no loop turn may run between
    the drain and the final pause, or aiohttp would read more."""
    resp = body.raw_stream
    protocol = resp.connection.protocol
    protocol.pause_reading()  # also drops aiohttp's read timeout
    buffered = resp.content.read_nowait(-1)
    protocol.pause_reading()  # draining below the low-water mark resumed it
    return buffered


async def relay(src_fileno: int, dst_fileno: int, length: int, *, read_timeout: float) -> None:
    """Move exactly `length` bytes from socket `src` to socket `dst` (both non-blocking).

    Both descriptors are duplicated first: the sockets' owners may close theirs meanwhile (a
    client that leaves makes Tornado close its stream) and a recycled descriptor number
    must never receive our bytes. Waits for readiness on the loop; waiting for S3 is bounded
    by `read_timeout`, waiting for a slow client is not (it is backpressure).
    """
    loop = asyncio.get_running_loop()
    src, dst = os.dup(src_fileno), os.dup(dst_fileno)
    pipe_r, pipe_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    capacity = 64 * 1024
    if _F_SETPIPE_SZ is not None:
        try:
            capacity = fcntl.fcntl(pipe_w, _F_SETPIPE_SZ, PIPE_SIZE)
        except OSError:  # pipe-max-size lowered by the admin: the default pipe still works
            pass
    pulled = pushed = 0
    try:
        while pushed < length:
            progressed = False
            if pulled < length and pulled - pushed < capacity:
                try:
                    n = _SPLICE(src, pipe_w, min(capacity - (pulled - pushed), length - pulled),
                                flags=_FLAGS)
                except BlockingIOError:
                    n = -1
                if n == 0:
                    raise UpstreamEnded(f"S3 sent {pulled} of {length} bytes")
                if n > 0:
                    pulled += n
                    progressed = True
            if pulled > pushed:
                try:
                    m = _SPLICE(pipe_r, dst, pulled - pushed, flags=_FLAGS)
                except BlockingIOError:
                    m = 0
                except (BrokenPipeError, ConnectionResetError) as exc:
                    raise ClientGone() from exc
                if m > 0:
                    pushed += m
                    progressed = True
            if not progressed:
                await _ready(loop, src if pulled < length and pulled - pushed < capacity
                             else None, dst if pulled > pushed else None, read_timeout)
    finally:
        for fd in (pipe_r, pipe_w, src, dst):
            os.close(fd)


async def _ready(loop: asyncio.AbstractEventLoop, readable: int | None, writable: int | None,
                 read_timeout: float) -> None:
    """Until `readable` can be read or `writable` written (whichever comes first)."""
    fut = loop.create_future()

    def wake() -> None:
        if not fut.done():
            fut.set_result(None)

    if readable is not None:
        loop.add_reader(readable, wake)
    if writable is not None:
        loop.add_writer(writable, wake)
    try:
        if writable is None:  # only S3 can make progress: a silent S3 is a stall
            try:
                await asyncio.wait_for(fut, read_timeout)
            except TimeoutError:
                raise UpstreamStalled(f"S3 sent nothing for {read_timeout:g}s") from None
        else:
            await fut
    finally:
        if readable is not None:
            loop.remove_reader(readable)
        if writable is not None:
            loop.remove_writer(writable)
