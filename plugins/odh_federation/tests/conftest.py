"""Real upstream servers for the federation tests: a package BFF (Tornado) and raw TCP servers
that hang or reset connections."""
from __future__ import annotations

import asyncio
import hashlib
import socket
from typing import Any

import pytest

from odh_core.testing import LoopbackServer
import tornado.web
import tornado.websocket

from odh_core import Identity
from odh_core.testing import static_identities

IDENTITIES = {"t-alice": Identity("alice", ("users",)), "t-bob": Identity("bob", ("users",))}
SEEN_HEADERS = ("Authorization", "Cookie", "X-Forwarded-Access-Token", "X-Forwarded-For",
                "X-Forwarded-Proto", "X-Forwarded-Host", "X-Request-Id", "X-Team", "Impersonate-User")


class RemoteEntry(tornado.web.RequestHandler):
    def get(self) -> None:
        self.set_header("Content-Type", "application/javascript")
        self.finish(b"var mod = 'remote entry';")


class Cached(tornado.web.RequestHandler):
    def get(self) -> None:
        self.set_header("Cache-Control", "public, max-age=60")
        self.finish(b"cached chunk")


class Echo(tornado.web.RequestHandler):
    def _answer(self, path: str) -> None:
        self.finish({"method": self.request.method, "path": self.request.path, "sub": path,
                     "query": self.request.query, "body": self.request.body.decode(),
                     "headers": {h: self.request.headers.get(h) for h in SEEN_HEADERS}})

    get = post = put = delete = patch = _answer  # type: ignore[assignment]


@tornado.web.stream_request_body
class Blob(tornado.web.RequestHandler):
    """Upload: hashes as it streams in. Download: `?mib=N` bytes generated as they are sent."""

    def prepare(self) -> None:
        self.request.connection.set_max_body_size(2**31)
        self.digest = hashlib.sha256()
        self.size = 0

    def data_received(self, chunk: bytes) -> None:
        self.digest.update(chunk)
        self.size += len(chunk)

    def post(self) -> None:
        self.finish({"size": self.size, "sha256": self.digest.hexdigest()})

    async def get(self) -> None:
        block = bytes(range(256)) * 4096  # 1 MiB
        self.set_header("Content-Length", str(int(self.get_argument("mib")) * len(block)))
        for _ in range(int(self.get_argument("mib"))):
            self.write(block)
            await self.flush()


class WsEcho(tornado.websocket.WebSocketHandler):
    def select_subprotocol(self, subprotocols: list[str]) -> str | None:
        return "echo.v1" if "echo.v1" in subprotocols else None

    async def on_message(self, message: Any) -> None:
        if message == "whoami":
            await self.write_message(self.request.headers.get("Authorization") or "none")
        elif message == "bye":
            self.close(4001, "asked to")
        else:
            await self.write_message(message, binary=isinstance(message, bytes))


class Bff(LoopbackServer):
    """The package team's BFF: assets, an echo, a blob and a WebSocket echo."""

    def __init__(self) -> None:
        super().__init__(tornado.web.Application([
            (r"/remoteEntry\.js", RemoteEntry), (r"/chunks/cached\.js", Cached),
            (r"/blob", Blob), (r"/ws", WsEcho), (r"/(.*)", Echo)]))


@pytest.fixture
async def bff():
    server = Bff()
    yield server
    await server.close()


class RawUpstream:
    """A TCP server whose behaviour a test switches: "hang" (accept, never answer), "reset"
    (read the request, then RST), "ok" (200 with the connection count). Counts connections."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.resets_left = 0
        self.connections = 0
        self.server: asyncio.base_events.Server | None = None
        self._held: list[asyncio.StreamWriter] = []

    async def start(self) -> "RawUpstream":
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()
            return
        if self.mode == "hang":
            self._held.append(writer)
            return
        if self.mode == "reset" or self.resets_left > 0:
            self.resets_left -= 1
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00" * 2)
            writer.transport.abort()
            return
        body = str(self.connections).encode()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
                     % (len(body), body))
        await writer.drain()
        writer.close()

    async def stop(self) -> None:
        for w in self._held:
            w.transport.abort()
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


@pytest.fixture
async def raw_upstream():
    up = await RawUpstream().start()
    yield up
    await up.stop()


@pytest.fixture
def odh_plugins():
    return ["federation"]


@pytest.fixture
def odh_extra_plugins():
    return [static_identities(IDENTITIES)]


def _no_cluster(plugin_cfg: dict[str, Any]) -> dict[str, Any]:
    return {"sandbox": {"mode": "off"}, "server": {"grace_period": 5, "shutdown_timeout": 5},
            "plugins": {"federation": {"ca_file": None, "env_config": None, **plugin_cfg}}}


@pytest.fixture
def no_cluster():
    """Build an app config without an API server (identities come from the static plugin)
    around a federation section."""
    return _no_cluster
