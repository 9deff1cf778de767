"""The pass-through against a recording stand-in API server (plain HTTP, allowed explicitly):
what reaches the API server, bounded buffering under a slow client, the transport rule."""
from __future__ import annotations

import asyncio
import tracemalloc
from dataclasses import dataclass, field
from typing import Any, AsyncIterator

import pytest
import tornado.web
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

from odh_core import Identity
from odh_core.testing import build_settings, start_server, static_identities

MiB = 2**20
BIG = 64 * MiB  # well above what the sockets on the way hold (about 12 MiB here)
CHUNK = b'{"metadata":{"name":"cm"},"data":{"k":"' + b"v" * (64 * 1024 - 48) + b'"}},'


@dataclass
class Recorder:
    url: str = ""
    headers: list[list[tuple[str, str]]] = field(default_factory=list)
    sent: int = 0
    blocked: bool = False
    done: bool = False


class FakeApiServer(tornado.web.RequestHandler):
    def initialize(self, rec: Recorder) -> None:
        self.rec = rec

    async def get(self, path: str) -> None:
        self.rec.headers.append(list(self.request.headers.get_all()))
        self.set_header("Content-Type", "application/json")
        if path != "api/v1/configmaps":
            self.finish(b'{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"rec"}}')
            return
        while self.rec.sent < BIG:  # a huge list, written as fast as the reader takes it
            piece = CHUNK[:BIG - self.rec.sent]
            self.write(piece)
            flushed = self.flush()
            if not flushed.done():
                self.rec.blocked = True
            await flushed
            self.rec.blocked = False
            self.rec.sent += len(piece)
        self.rec.done = True


@pytest.fixture
async def fake_kube() -> AsyncIterator[Recorder]:
    rec = Recorder()
    server = HTTPServer(tornado.web.Application([(r"/(.*)", FakeApiServer, {"rec": rec})]))
    socks = bind_sockets(0, "127.0.0.1")
    server.add_sockets(socks)
    rec.url = f"http://127.0.0.1:{socks[0].getsockname()[1]}"
    yield rec
    server.stop()
    await server.close_all_connections()


@pytest.fixture
def odh_config(fake_kube: Recorder) -> dict[str, Any]:
    return {"kubernetes": {"host": fake_kube.url, "token": "sa-token", "allow_plain_http": True},
            "sandbox": {"mode": "off"}, "server": {"grace_period": 5, "shutdown_timeout": 5},
            "auth": {"token_headers": ["x-odh-token", "x-forwarded-access-token",
                                       "authorization"]}}


@pytest.fixture
def odh_extra_plugins() -> list[Any]:
    return [static_identities({"tok-alice": Identity("alice")})]


async def test_cookies_token_headers_and_impersonation_never_reach_the_api_server(
        odh_server, fake_kube):
    for token_header in ("x-odh-token", "x-forwarded-access-token", "authorization"):
        value = "Bearer tok-alice" if token_header == "authorization" else "tok-alice"
        resp = await odh_server.fetch(
            "/api/k8s/api/v1/namespaces/ns/configmaps/rec", headers={
                token_header: value, "Cookie": "session=secret; _oauth_proxy=xyz",
                "Impersonate-User": "admin", "Impersonate-Group": "system:masters",
                "Impersonate-Extra-Scopes": "all", "Accept": "application/json",
                "X-Custom": "kept"})
        assert resp.status == 200, resp.text
        seen = {k.lower(): v for k, v in fake_kube.headers[-1]}
        assert seen["authorization"] == "Bearer tok-alice"  # the caller's token, once
        assert [k for k, _ in fake_kube.headers[-1]].count("Authorization") == 1
        assert "cookie" not in seen
        assert "x-odh-token" not in seen and "x-forwarded-access-token" not in seen
        assert not [k for k in seen if k.startswith("impersonate-")]
        assert seen["accept"] == "application/json" and seen["x-custom"] == "kept"


async def test_slow_reader_gets_a_huge_list_with_bounded_buffering(odh_server, fake_kube, http):
    loop = asyncio.get_running_loop()
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        async with http.get(odh_server.url + "/api/k8s/api/v1/configmaps",
                            headers={"Authorization": "Bearer tok-alice"}) as resp:
            assert resp.status == 200
            received = len(await resp.content.readexactly(MiB))
            # Stop reading until the upstream is held up (its writes wait) or, were
            # everything buffered somewhere, it finished.
            deadline, last = loop.time() + 30, -1
            while not fake_kube.done and not (fake_kube.blocked and fake_kube.sent == last):
                assert loop.time() < deadline, "upstream neither blocked nor finished"
                last = fake_kube.sent
                await asyncio.sleep(0.1)
            sent_while_paused = fake_kube.sent
            async for chunk in resp.content.iter_chunked(256 * 1024):
                received += len(chunk)
        peak = tracemalloc.get_traced_memory()[1] - baseline
    finally:
        tracemalloc.stop()
    assert received == BIG and fake_kube.done
    # Backpressure reached the API server: what was sent while the client did not read is
    # only what the sockets on the way hold, not the list.
    assert sent_while_paused < BIG // 2, sent_while_paused
    # And odh-core itself (this process: proxy, client and stand-in together) held little.
    assert peak < 16 * MiB, peak


async def test_plain_http_api_server_refused_outside_dev_mode(fake_kube):
    config = {"kubernetes": {"host": fake_kube.url, "token": "sa-token"},
              "sandbox": {"mode": "off"}}
    with pytest.raises(Exception, match="refusing plain-http API server"):
        await start_server(build_settings(config, ["k8s"]))
    dev = await start_server(build_settings({**config, "auth": {"mode": "dev"}}, ["k8s"]))
    await dev.close()
