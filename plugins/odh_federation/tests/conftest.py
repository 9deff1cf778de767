"""Real upstream servers for the federation tests: a package BFF (Tornado) and raw TCP servers
that hang or reset connections."""
from __future__ import annotations

import hashlib
from typing import Any

import pytest

from odh_core.testing import LoopbackServer, RawUpstream
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
