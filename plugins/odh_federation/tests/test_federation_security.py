"""Issue 18, items 8, 11 and 12 against a real upstream that records what reached it: no path
escapes a rewrite prefix or turns into a query, a cross-origin WebSocket never opens the
upstream socket, and identity headers a client could forge never reach the upstream."""
from __future__ import annotations

import asyncio
from typing import Any

import pytest
import tornado.web
import tornado.websocket
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import websocket_connect

from odh_core.testing import LoopbackServer


class Recorder:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str]]] = []  # (path, query, headers)
        self.sockets = 0
        self.release = asyncio.Event()


class Record(tornado.web.RequestHandler):
    def initialize(self, rec: Recorder) -> None:
        self.rec = rec

    def get(self, _: str) -> None:
        self.rec.requests.append((self.request.path, self.request.query,
                                  dict(self.request.headers.get_all())))
        self.finish({"path": self.request.path})


class Stream(tornado.web.RequestHandler):
    """A long-lived response (no Content-Length): one chunk, then open until released."""

    def initialize(self, rec: Recorder) -> None:
        self.rec = rec

    async def get(self) -> None:
        self.write(b"first chunk\n")
        await self.flush()
        await self.rec.release.wait()


class Socket(tornado.websocket.WebSocketHandler):
    def initialize(self, rec: Recorder) -> None:
        self.rec = rec

    def open(self) -> None:
        self.rec.sockets += 1

    def check_origin(self, origin: str) -> bool:
        return True  # the upstream trusts whatever odh-core lets through


@pytest.fixture
async def recorder():
    rec = Recorder()
    app = tornado.web.Application([(r"/internal/ws", Socket, {"rec": rec}),
                                   (r"/internal/modx/stream", Stream, {"rec": rec}),
                                   (r"(/.*)", Record, {"rec": rec})])
    async with LoopbackServer(app) as server:
        yield rec, server.url


@pytest.fixture
def odh_config(recorder, no_cluster):
    _, url = recorder
    return {**no_cluster({"modules": [{
        "name": "mod", "backend": {"remoteEntry": "/remoteEntry.js", "service": {"url": url}},
        "proxyService": [{"path": "/api/modx", "pathRewrite": "/internal/modx",
                          "service": {"url": url}},
                         {"path": "/api/modws", "pathRewrite": "/internal/ws",
                          "service": {"url": url}}]}]}),
            "limits": {"concurrent_streams": 1, "exempt_admins": False}}


@pytest.mark.parametrize("path", [
    "/api/modx/%2e%2e/%2e%2e/secret", "/api/modx/%2E%2E/secret", "/api/modx/.%2e/secret",
    "/api/modx/%252e%252e/secret", "/api/modx/a/%2e/b", "/api/modx/x%3Finjected=1%23frag",
    "/api/modx/x%23frag", "/_mf/mod/%2e%2e/secret", "/_mf/mod/x%3Finjected=1%23frag",
    "/api/modx/a%5c..%5csecret",
])
async def test_no_path_escapes_the_rewrite_prefix(odh_server, recorder, path):
    rec, _ = recorder
    resp = await odh_server.fetch(path, token="t-alice")
    assert resp.status == 400, (path, resp.status, resp.text)
    assert rec.requests == []  # nothing reached the upstream


async def test_plain_paths_still_pass(odh_server, recorder):
    rec, _ = recorder
    resp = await odh_server.fetch("/api/modx/a/b.json?x=1", token="t-alice")
    assert resp.status == 200 and resp.json()["path"] == "/internal/modx/a/b.json"
    resp = await odh_server.fetch("/_mf/mod/chunks/a.b.js", token="t-alice")
    assert resp.status == 200 and resp.json()["path"] == "/chunks/a.b.js"
    assert [r[:2] for r in rec.requests] == [("/internal/modx/a/b.json", "x=1"),
                                             ("/chunks/a.b.js", "")]


async def test_forgeable_identity_headers_never_reach_the_upstream(odh_server, recorder):
    rec, _ = recorder
    # The auth proxy in front appends the address it saw (10.1.2.3); the client wrote the rest.
    forged = {"X-Forwarded-For": "6.6.6.6, 10.1.2.3", "Forwarded": "for=6.6.6.6",
              "X-Remote-User": "system:admin", "X-Remote-Group": "system:masters",
              "X-Remote-Extra-Scopes": "all", "X-Forwarded-User": "root",
              "X-Forwarded-Groups": "system:masters", "X-Forwarded-Email": "root@example.com"}
    for path in ("/api/modx/a", "/_mf/mod/remoteEntry.js"):
        resp = await odh_server.fetch(path, token="t-alice", headers=forged)
        assert resp.status == 200, resp.text
    for _, _, headers in rec.requests:
        seen = {k.lower(): v for k, v in headers.items()}
        # what odh-core trusted (server.xheaders: the auth proxy's hop), not the client's chain
        assert seen.get("x-forwarded-for") == "10.1.2.3"
        for name in forged:
            if name != "X-Forwarded-For":
                assert name.lower() not in seen, name


async def test_cross_origin_websocket_never_opens_the_upstream(odh_server, recorder):
    rec, _ = recorder
    url = odh_server.url.replace("http", "ws", 1) + "/api/modws"
    req = HTTPRequest(url, headers={"Authorization": "Bearer t-alice",
                                    "Origin": "https://evil.example"})
    with pytest.raises(HTTPClientError) as err:
        await websocket_connect(req)
    assert err.value.code == 403
    assert rec.sockets == 0
    # same origin: the upstream socket opens (the recorder counts it)
    ok = HTTPRequest(url, headers={"Authorization": "Bearer t-alice",
                                   "Origin": odh_server.url})
    conn = await websocket_connect(ok)
    conn.close()
    assert rec.sockets == 1


async def test_streamed_responses_count_against_the_stream_limit(odh_server, recorder):
    rec, _ = recorder
    chunks: list[bytes] = []
    first = asyncio.ensure_future(odh_server.fetch(
        "/api/modx/stream", token="t-alice", streaming_callback=chunks.append))
    try:
        for _ in range(500):  # until the first chunk is through: the stream is open
            if chunks:
                break
            await asyncio.sleep(0.01)
        assert chunks, "the first stream never started"
        resp = await odh_server.fetch("/api/modx/stream", token="t-alice")
        assert resp.status == 429, resp.text
        resp = await odh_server.fetch("/api/modx/plain", token="t-alice")  # sized: not a stream
        assert resp.status == 200
    finally:
        rec.release.set()
    assert (await first).status == 200
