"""The shared streaming proxy against a real upstream server."""
import asyncio
import hashlib
import socket

import aiohttp
import pytest
import tornado.web

from odh_core import Plugin, ProxyHandler, Route, Upstream, hookimpl

from .conftest import IDENTITIES
from odh_core.testing import LoopbackServer, static_identities


@tornado.web.stream_request_body
class Echo(tornado.web.RequestHandler):
    """Upstream: hashes the body as it streams in; reports headers it saw."""

    def prepare(self):
        self.request.connection.set_max_body_size(2**31)
        self.digest = hashlib.sha256()
        self.size = 0

    def data_received(self, chunk):
        self.digest.update(chunk)
        self.size += len(chunk)

    def post(self, path):
        self.set_header("Set-Cookie", "upstream=1")
        self.set_header("X-Upstream", "yes")
        self.add_header("X-Multi", "a")
        self.add_header("X-Multi", "b")
        self.set_status(201)
        self.finish({"path": path, "query": self.request.query, "size": self.size,
                     "sha256": self.digest.hexdigest(),
                     "cookie": self.request.headers.get("Cookie"),
                     "auth": self.request.headers.get("Authorization"),
                     "impersonate": self.request.headers.get("Impersonate-User")})

    async def get(self, path):
        if path == "big":
            n = int(self.get_argument("mib"))
            block = b"x" * 2**20
            for _ in range(n):
                self.write(block)
                await self.flush()
            return
        self.set_status(404)
        self.set_header("Content-Type", "application/json")
        self.finish(b'{"kind":"Status","code":404}')


@pytest.fixture
async def upstream():
    async with LoopbackServer(tornado.web.Application([(r"/(.*)", Echo)])) as up:
        yield up.url


class Forward(ProxyHandler):
    async def upstream(self):
        base = self.plugin.target
        return Upstream(f"{base}/{self.path_args[0]}" + (
            f"?{self.request.query}" if self.request.query else ""), self.forward_headers(),
            timeout=aiohttp.ClientTimeout(sock_connect=2, sock_read=10))


class ForwardPlugin(Plugin):
    target = ""

    @hookimpl
    def register_routes(self):
        return [Route(r"/fwd/(.*)", Forward)]


@pytest.fixture
def odh_extra_plugins():
    return [("fwd", ForwardPlugin), static_identities(IDENTITIES)]


async def test_body_streams_and_headers_pass(odh_server, upstream):
    odh_server.app.plugin("fwd").target = upstream
    body = bytes(range(256)) * (40 * 4096)  # 40 MiB
    async with aiohttp.ClientSession() as s:
        async def chunks():
            for i in range(0, len(body), 2**20):
                yield body[i:i + 2**20]

        async with s.post(odh_server.url + "/fwd/a/b?x=1&x=2", data=chunks(), headers={
                "Authorization": "Bearer t-alice", "Cookie": "sid=1",
                "Impersonate-User": "root"}) as r:
            assert r.status == 201
            got = await r.json()
            assert r.headers.getall("X-Multi") == ["a", "b"]
            assert r.headers["X-Upstream"] == "yes"
            assert "Set-Cookie" not in r.headers
    assert got == {"path": "a/b", "query": "x=1&x=2", "size": len(body),
                   "sha256": hashlib.sha256(body).hexdigest(), "cookie": None, "auth": None,
                   "impersonate": None}


async def test_error_status_and_body_pass_unchanged(odh_server, upstream):
    odh_server.app.plugin("fwd").target = upstream
    resp = await odh_server.fetch("/fwd/missing", token="t-alice")
    assert resp.status == 404 and resp.body == b'{"kind":"Status","code":404}'


async def test_large_download_streams(odh_server, upstream):
    odh_server.app.plugin("fwd").target = upstream
    size = 0
    async with aiohttp.ClientSession() as s:
        async with s.get(odh_server.url + "/fwd/big?mib=64",
                         headers={"Authorization": "Bearer t-alice"}) as r:
            async for chunk in r.content.iter_any():
                size += len(chunk)
    assert size == 64 * 2**20


async def test_upstream_down_is_502(odh_server):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    odh_server.app.plugin("fwd").target = f"http://127.0.0.1:{port}"
    resp = await odh_server.fetch("/fwd/x", token="t-alice")
    assert resp.status == 502 and "unreachable" in resp.json()["message"]
    resp = await odh_server.fetch("/fwd/x", "POST", token="t-alice", body=b"y" * 500_000)
    assert resp.status == 502
    assert (await odh_server.fetch("/healthz")).status == 200


async def test_requires_identity(odh_server, upstream):
    odh_server.app.plugin("fwd").target = upstream
    assert (await odh_server.fetch("/fwd/x")).status == 401


class StreamState:
    def __init__(self) -> None:
        self.go = asyncio.Event()
        self.closed = asyncio.Event()


class QuietStream(tornado.web.RequestHandler):
    """Upstream: a watch-like stream that sends headers, then waits for `go`, sends one line,
    and then stays quiet until the client goes away."""

    def initialize(self, state):
        self.state = state

    def on_connection_close(self):
        self.state.closed.set()

    async def get(self):
        self.set_header("Content-Type", "application/json")
        await self.flush()
        await self.state.go.wait()
        self.write(b'{"type":"ADDED"}\n')
        await self.flush()
        await self.state.closed.wait()


@pytest.fixture
async def quiet_upstream():
    state = StreamState()
    up = LoopbackServer(tornado.web.Application([(r"/stream", QuietStream, {"state": state})]))
    yield up.url, state
    state.closed.set()
    await up.close()


async def test_stream_headers_arrive_before_the_first_chunk(odh_server, quiet_upstream):
    base, state = quiet_upstream
    odh_server.app.plugin("fwd").target = base
    async with aiohttp.ClientSession() as s:
        # A watch client waits for the headers before anything is sent: they must not be held
        # back until the upstream's first event.
        async with await asyncio.wait_for(s.get(
                odh_server.url + "/fwd/stream",
                headers={"Authorization": "Bearer t-alice"}), 10) as r:
            assert r.status == 200 and r.content_type == "application/json"
            state.go.set()
            assert await asyncio.wait_for(r.content.readline(), 10) == b'{"type":"ADDED"}\n'


async def test_client_leaving_a_quiet_stream_closes_the_upstream(odh_server, quiet_upstream):
    base, state = quiet_upstream
    odh_server.app.plugin("fwd").target = base
    state.go.set()
    async with aiohttp.ClientSession() as s:
        async with s.get(odh_server.url + "/fwd/stream",
                         headers={"Authorization": "Bearer t-alice"}) as r:
            assert await asyncio.wait_for(r.content.readline(), 10) == b'{"type":"ADDED"}\n'
    # Nothing more comes from upstream, yet the proxy must not keep its request open.
    await asyncio.wait_for(state.closed.wait(), 10)


@tornado.web.stream_request_body
class SlowToTake(tornado.web.RequestHandler):
    """Upstream that stops reading for 2 s after the first chunk."""

    def prepare(self):
        self.request.connection.set_max_body_size(2**31)
        self.size = 0

    async def data_received(self, chunk):
        if self.size == 0:
            await asyncio.sleep(2)
        self.size += len(chunk)

    def post(self):
        self.finish({"size": self.size})


async def test_backpressure_is_not_an_idle_body(odh_server):
    """The body idle timeout (1 s here) is about a client that sends nothing; while the
    upstream is slow to take the body odh-core stops reading, and that must not count."""
    odh_server.app.settings.server.body_idle_timeout = 1
    async with LoopbackServer(tornado.web.Application([(r"/slow", SlowToTake)])) as up:
        odh_server.app.plugin("fwd").target = up.url
        body = b"x" * (8 * 2**20)
        resp = await odh_server.fetch("/fwd/slow", "POST", token="t-alice", body=body)
        assert resp.status == 200, resp.text
        assert resp.json() == {"size": len(body)}
