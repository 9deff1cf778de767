"""Federation proxying against a real package BFF: rewrites, header policy, streaming, WebSocket."""
import asyncio
import hashlib
import tracemalloc

import aiohttp
import pytest
from tornado.websocket import websocket_connect
from tornado.httpclient import HTTPRequest


@pytest.fixture
def odh_config(bff, no_cluster):
    return no_cluster({"modules": [
        {"name": "mod", "backend": {"remoteEntry": "/remoteEntry.js",
                                    "service": {"url": bff.url}},
         "proxyService": [
             {"path": "/mod-api/v1", "pathRewrite": "/echo", "service": {"url": bff.url},
              "authorize": True, "headers": {"X-Team": "blue"}},
             {"path": "/mod-api/blob", "pathRewrite": "/blob", "service": {"url": bff.url}},
             {"path": "/mod-api/ws", "pathRewrite": "/ws", "service": {"url": bff.url},
              "authorize": True},
             {"path": "/mod-open", "pathRewrite": "", "service": {"url": bff.url}},
         ]},
        # the older flat schema: one service for assets and proxy paths
        {"name": "flat", "remoteEntry": "/remoteEntry.js", "authorize": True,
         "proxy": [{"path": "/flat/api", "pathRewrite": "/echo/flat"}],
         "service": {"url": bff.url}, "forwardCookies": True},
    ]})


async def test_assets_prefix_stripped_and_no_cache_default(odh_server):
    resp = await odh_server.fetch("/_mf/mod/remoteEntry.js?v=1", user=None, token="t-alice")
    assert resp.status == 200 and resp.body == b"var mod = 'remote entry';"
    assert resp.headers["Cache-Control"] == "no-cache"
    assert resp.headers["Content-Type"] == "application/javascript"
    resp = await odh_server.fetch("/_mf/mod/chunks/cached.js", token="t-alice")
    assert resp.headers["Cache-Control"] == "public, max-age=60"
    resp = await odh_server.fetch("/_mf/mod/some/path?a=1&a=2", token="t-alice")
    assert resp.json()["path"] == "/some/path" and resp.json()["query"] == "a=1&a=2"
    missing = await odh_server.fetch("/_mf/nope/remoteEntry.js", token="t-alice")
    assert missing.status == 404 and "nope" in missing.json()["message"]


async def test_path_rewrite_all_methods(odh_server):
    for method, body in (("GET", None), ("POST", b"hello"), ("PUT", b"x"), ("PATCH", b"y"),
                         ("DELETE", None)):
        resp = await odh_server.fetch("/mod-api/v1/things/1?a=1&a=2", method, token="t-alice",
                                      body=body)
        got = resp.json()
        assert resp.status == 200, resp.body
        assert (got["method"], got["path"], got["query"]) == (method, "/echo/things/1", "a=1&a=2")
        assert got["body"] == (body or b"").decode()
    resp = await odh_server.fetch("/mod-api/v1", token="t-alice")
    assert resp.json()["path"] == "/echo"
    resp = await odh_server.fetch("/mod-open/x/y", token="t-alice")
    assert resp.json()["path"] == "/x/y"
    resp = await odh_server.fetch("/flat/api/z", token="t-alice")
    assert resp.json()["path"] == "/echo/flat/z"
    # a path in a registered family that no module owns
    assert (await odh_server.fetch("/mod-api/other", token="t-alice")).status == 404
    assert (await odh_server.fetch("/mod-api/v1/x")).status == 401


async def test_authorize_sets_token_and_cookies_never_reach_upstream(odh_server):
    hdrs = {"Cookie": "sid=secret", "X-Forwarded-Access-Token": "t-alice",
            "Impersonate-User": "root", "X-Request-Id": "req-123"}
    got = (await odh_server.fetch("/mod-api/v1/a", headers=hdrs)).json()["headers"]
    assert got["Authorization"] == "Bearer t-alice"
    assert got["Cookie"] is None and got["X-Forwarded-Access-Token"] is None
    assert got["Impersonate-User"] is None
    assert got["X-Team"] == "blue" and got["X-Request-Id"] == "req-123"
    assert got["X-Forwarded-For"] == "127.0.0.1" and got["X-Forwarded-Proto"] == "http"
    assert got["X-Forwarded-Host"].startswith("127.0.0.1:")
    # no authorize: the user's token does not travel
    got = (await odh_server.fetch("/mod-open/a", headers={**hdrs, "Authorization":
                                                         "Bearer t-alice"})).json()["headers"]
    assert got["Authorization"] is None and got["Cookie"] is None
    # a target that asks for cookies gets them
    got = (await odh_server.fetch("/flat/api/a", headers=hdrs)).json()["headers"]
    assert got["Cookie"] == "sid=secret" and got["Authorization"] == "Bearer t-alice"


@pytest.mark.slow
async def test_100mib_up_and_down_in_bounded_memory(odh_server):
    size = 100 * 2**20
    block = bytes(range(256)) * 4096
    expected = hashlib.sha256()
    for _ in range(100):
        expected.update(block)
    headers = {"Authorization": "Bearer t-alice"}
    tracemalloc.start()
    try:
        async with aiohttp.ClientSession() as s:
            async def chunks():
                for _ in range(100):
                    yield block

            async with s.post(odh_server.url + "/mod-api/blob", data=chunks(),
                              headers=headers) as r:
                assert r.status == 200
                assert await r.json() == {"size": size, "sha256": expected.hexdigest()}
            digest, got = hashlib.sha256(), 0
            async with s.get(odh_server.url + "/mod-api/blob?mib=100", headers=headers) as r:
                assert r.status == 200 and int(r.headers["Content-Length"]) == size
                async for chunk in r.content.iter_chunked(2**20):
                    digest.update(chunk)
                    got += len(chunk)
            assert got == size and digest.hexdigest() == expected.hexdigest()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # client, proxy and upstream all live in this process: far below one copy of the data
    assert peak < 24 * 2**20, f"peak {peak / 2**20:.1f} MiB"


async def test_websocket_echo_passes_through(odh_server):
    req = HTTPRequest(odh_server.url.replace("http", "ws") + "/mod-api/ws",
                      headers={"X-Forwarded-Access-Token": "t-alice"})
    conn = await websocket_connect(req, subprotocols=["echo.v1"])
    try:
        assert conn.selected_subprotocol == "echo.v1"
        await conn.write_message("hello")
        assert await conn.read_message() == "hello"
        await conn.write_message(b"\x00\x01binary", binary=True)
        assert await conn.read_message() == b"\x00\x01binary"
        await conn.write_message("whoami")
        assert await conn.read_message() == "Bearer t-alice"
        await conn.write_message("bye")
        assert await conn.read_message() is None
        assert conn.close_code == 4001
    finally:
        conn.close()
    # without identity the upgrade is refused before any upstream connection
    with pytest.raises(Exception) as err:
        await websocket_connect(odh_server.url.replace("http", "ws") + "/mod-api/ws")
    assert getattr(err.value, "code", None) == 401


async def test_module_list_published_for_dashboard(odh_server):
    listing = odh_server.app.service("federation.modules")()
    assert listing == [{"name": "mod", "remoteEntry": "/remoteEntry.js"},
                       {"name": "flat", "remoteEntry": "/remoteEntry.js"}]
    resp = await odh_server.fetch("/api/federation/modules", token="t-alice")
    data = resp.json()["data"]
    assert [(m["name"], m["remoteEntry"], m["healthy"]) for m in data] == [
        ("mod", "/remoteEntry.js", True), ("flat", "/remoteEntry.js", True)]
    ready = (await odh_server.fetch("/readyz")).json()
    assert ready["status"] == "ok"
