"""Downloads against moto's server over HTTP: the zero-copy relay (splice) and the streaming
relay, byte-exact, keep-alive intact, and what happens when either end goes away."""
from __future__ import annotations

import asyncio
import base64
import os
import socket
from typing import Any

import pytest

from odh_core.testing import eventually
from odh_s3 import zerocopy

MiB = 1024 * 1024


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def relayed(app: Any, relay: str) -> float:
    value = app.metrics.registry.get_sample_value("odh_s3_download_bytes_total",
                                                  {"relay": relay})
    return value or 0.0


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:] if x)}
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers, body


def port_of(odh_server: Any) -> int:
    return int(odh_server.url.rsplit(":", 1)[1])


def get(path: str, auth: dict[str, str], extra: str = "") -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: odh"] + [f"{k}: {v}" for k, v in auth.items()]
    return ("\r\n".join(lines) + "\r\n" + extra + "\r\n").encode()


async def test_large_download_is_spliced_exact_and_the_connection_stays_usable(
        odh_server: Any, sandbox_s3: Any, aio_s3: Any, key_prefix: str) -> None:
    bucket, key = sandbox_s3.default_bucket, f"{key_prefix}big.bin"
    data = os.urandom(6 * MiB + 12345)
    await aio_s3.put_object(Bucket=bucket, Key=key, Body=data)
    before = relayed(odh_server.app, "zero_copy")
    path = f"/api/objects/download/{bucket}/{b64(key)}"
    auth = odh_server.auth_headers("alice")
    reader, writer = await asyncio.open_connection("127.0.0.1", port_of(odh_server))
    try:
        # Two requests on one connection: Tornado must still count the spliced body against
        # Content-Length, or it would close the connection after the first.
        writer.write(get(path, auth))
        status, headers, body = await read_response(reader)
        assert status == 200 and body == data
        assert headers["content-length"] == str(len(data)) and headers["etag"]
        writer.write(get(path, auth, f"Range: bytes={MiB}-{3 * MiB - 1}\r\n"))
        status, headers, body = await read_response(reader)
        assert status == 206 and body == data[MiB:3 * MiB]
        assert headers["content-range"] == f"bytes {MiB}-{3 * MiB - 1}/{len(data)}"
    finally:
        writer.close()
    assert relayed(odh_server.app, "zero_copy") - before == len(data) + 2 * MiB


async def test_small_objects_and_a_disabled_switch_take_the_streaming_relay(
        odh_server: Any, sandbox_s3: Any, aio_s3: Any, key_prefix: str) -> None:
    bucket = sandbox_s3.default_bucket
    small, big = os.urandom(100_000), os.urandom(2 * MiB)
    await aio_s3.put_object(Bucket=bucket, Key=f"{key_prefix}small", Body=small)
    await aio_s3.put_object(Bucket=bucket, Key=f"{key_prefix}big", Body=big)
    app, plugin = odh_server.app, odh_server.app.plugin("s3")
    spliced, streamed = relayed(app, "zero_copy"), relayed(app, "stream")
    resp = await odh_server.fetch(f"/api/objects/download/{bucket}/{b64(key_prefix + 'small')}",
                                  user="alice")
    assert resp.status == 200 and resp.body == small
    plugin.ctx.config = plugin.config.model_copy(update={"zero_copy_downloads": False})
    resp = await odh_server.fetch(f"/api/objects/download/{bucket}/{b64(key_prefix + 'big')}",
                                  user="alice")
    assert resp.status == 200 and resp.body == big
    assert relayed(app, "stream") - streamed == len(small) + len(big)
    assert relayed(app, "zero_copy") == spliced


async def test_a_client_leaving_mid_download_frees_its_slots(
        odh_server: Any, sandbox_s3: Any, aio_s3: Any, key_prefix: str) -> None:
    bucket, key = sandbox_s3.default_bucket, f"{key_prefix}leave.bin"
    data = os.urandom(32 * MiB)
    await aio_s3.put_object(Bucket=bucket, Key=key, Body=data)
    path = f"/api/objects/download/{bucket}/{b64(key)}"
    port = port_of(odh_server)
    await odh_server.fetch(path, user="alice", headers={"Range": "bytes=0-0"})  # warm pool
    fds = len(os.listdir("/proc/self/fd"))
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(get(path, odh_server.auth_headers("alice")))
    await reader.readuntil(b"\r\n\r\n")
    await reader.readexactly(MiB)  # a little, then gone
    writer.transport.abort()
    access = odh_server.app.service("s3.access")
    await eventually(lambda: access.transfers.active == 0 and not access.running,
                     "the transfer slot given back")
    # The relay's pipe and duplicated sockets, and the S3 connection, are closed.
    await eventually(lambda: len(os.listdir("/proc/self/fd")) <= fds, "no descriptor leaked")
    # ... and the server still serves the whole object to the next client.
    resp = await odh_server.fetch(path, user="alice")
    assert resp.status == 200 and resp.body == data


class ShortS3:
    """An S3 that announces a body of `length` bytes, sends `sent` of them and hangs up."""

    def __init__(self, length: int, sent: int):
        self.length, self.sent = length, sent

    async def __aenter__(self) -> "ShortS3":
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.endpoint = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.server.close()
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                         b"ETag: \"e\"\r\nContent-Length: %d\r\n\r\n" % self.length)
            writer.write(b"x" * self.sent)
            await writer.drain()
        finally:
            writer.close()


@pytest.fixture
async def short_s3() -> Any:
    async with ShortS3(4 * MiB, 2 * MiB + 7) as s3:
        yield s3


@pytest.fixture
def s3_plugin_config(s3_plugin_config: dict[str, Any], request: Any) -> dict[str, Any]:
    if "short_s3" in request.fixturenames:
        s3 = request.getfixturevalue("short_s3")
        return {**s3_plugin_config, "endpoint": s3.endpoint, "default_bucket": "bkt"}
    return s3_plugin_config


@pytest.mark.parametrize("zero_copy", [True, False])
async def test_s3_ending_early_cuts_the_download_short(odh_server: Any, short_s3: Any,
                                                      zero_copy: bool) -> None:
    plugin = odh_server.app.plugin("s3")
    plugin.ctx.config = plugin.config.model_copy(update={"zero_copy_downloads": zero_copy})
    reader, writer = await asyncio.open_connection("127.0.0.1", port_of(odh_server))
    try:
        writer.write(get(f"/api/objects/download/bkt/{b64('k')}", odh_server.auth_headers("alice")))
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200") and b"Content-Length: 4194304" in head
        with pytest.raises(asyncio.IncompleteReadError) as cut:  # never a wrong, whole body
            await reader.readexactly(4 * MiB)
        assert len(cut.value.partial) == 2 * MiB + 7
    finally:
        writer.close()
    access = odh_server.app.service("s3.access")
    await eventually(lambda: access.transfers.active == 0, "the transfer slot given back")


needs_splice = pytest.mark.skipif(not zerocopy.supported(), reason="splice(2) is Linux-only")


def nonblocking_pair() -> tuple[socket.socket, socket.socket]:
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    return a, b


@needs_splice
async def test_relay_moves_exactly_the_length_through_a_slow_reader() -> None:
    up_w, up_r = nonblocking_pair()  # "S3" writes into up_w, the relay reads up_r
    down_w, down_r = nonblocking_pair()  # the relay writes down_w, "the client" reads down_r
    data = os.urandom(5 * MiB + 3)
    loop = asyncio.get_running_loop()

    async def s3() -> None:
        await loop.sock_sendall(up_w, data + b"trailing bytes of the next response")

    async def client() -> bytes:
        got = bytearray()
        while len(got) < len(data):
            await asyncio.sleep(0)  # a reader slower than the relay: backpressure
            got += await loop.sock_recv(down_r, 64 * 1024)
        return bytes(got)

    try:
        sender = asyncio.create_task(s3())
        received = asyncio.create_task(client())
        await zerocopy.relay(up_r.fileno(), down_w.fileno(), len(data), read_timeout=10)
        assert await received == data  # exactly the length: nothing past it was taken
        assert up_r.recv(100) == b"trailing bytes of the next response"
        await sender
    finally:
        for s in (up_w, up_r, down_w, down_r):
            s.close()


@needs_splice
async def test_relay_names_each_way_it_can_end_early() -> None:
    up_w, up_r = nonblocking_pair()
    down_w, down_r = nonblocking_pair()
    try:
        up_w.send(b"half")
        up_w.shutdown(socket.SHUT_WR)  # S3 hangs up early
        with pytest.raises(zerocopy.UpstreamEnded):
            await zerocopy.relay(up_r.fileno(), down_w.fileno(), 8, read_timeout=10)
    finally:
        for s in (up_w, up_r, down_w, down_r):
            s.close()
    up_w, up_r = nonblocking_pair()
    down_w, down_r = nonblocking_pair()
    try:
        with pytest.raises(zerocopy.UpstreamStalled):  # S3 silent past the read timeout
            await zerocopy.relay(up_r.fileno(), down_w.fileno(), 8, read_timeout=0.05)
        down_r.close()  # the client is gone
        up_w.send(b"x" * 8)
        with pytest.raises(zerocopy.ClientGone):
            await zerocopy.relay(up_r.fileno(), down_w.fileno(), 8, read_timeout=10)
    finally:
        for s in (up_w, up_r, down_w, down_r):
            s.close()
