"""Issue 18 (security round 2): each attack that got through, replayed over HTTP against an
app wired to the sandbox API server. Items 1 (tests/core/test_kube_credentials.py) and 8, 11,
12 for federation (plugins/odh_federation/tests/test_federation_security.py) live elsewhere."""
from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import subprocess
import sys
import time
import uuid
from typing import Any

import pytest

from odh_core.app import App
from odh_core.auth import TTLCache
from odh_core.config import Settings
from odh_core.testing import OdhTestServer, build_settings, eventually, start_server


@pytest.fixture
def odh_plugins():
    return ["k8s", "dashboard", "watch"]


@pytest.fixture
def odh_config(odh_base_config):
    return {**odh_base_config, "limits": {"concurrent_streams": 3, "exempt_admins": False},
            "server": {**odh_base_config["server"], "body_idle_timeout": 1}}


def metric_lines(text: str, name: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(name)]


async def raw_request(port: int, head: bytes, host: str = "127.0.0.1") -> tuple[
        asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(head)
    await writer.drain()
    return reader, writer


# -- item 2: dev auth is for this machine -------------------------------------------------------
@pytest.mark.parametrize("argv,env", [
    (["--dev", "--host", "0.0.0.0"], {}),
    (["--host", "0.0.0.0"], {"APP_ENV": "development"}),
])
def test_dev_auth_refuses_to_start_off_loopback(tmp_path, argv, env):
    environ = {k: v for k, v in os.environ.items()
               if not k.startswith(("ODH_", "APP_ENV", "KUBECONFIG"))}
    environ.update(env, ODH_SANDBOX__MODE='"off"', HOME=str(tmp_path))
    proc = subprocess.run([sys.executable, "-m", "odh_core", "serve", "--port", "0", *argv],
                          env=environ, cwd=tmp_path, capture_output=True, timeout=30)
    assert proc.returncode != 0
    assert b"insecure_dev_auth_on_network" in proc.stderr and b"--dev" in proc.stderr


def non_loopback_address() -> str | None:
    """An address of this machine other machines could use (none: the test cannot run)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks a route
        address = probe.getsockname()[0]
    except OSError:
        return None
    finally:
        probe.close()
    return None if address.startswith("127.") else address


@pytest.mark.parametrize("override", [False, True])
async def test_dev_auth_answers_only_loopback_peers(odh_base_config, tokens, override):
    address = non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address to connect from")
    from tornado.httpserver import HTTPServer
    from tornado.netutil import bind_sockets

    settings = build_settings({**odh_base_config, "auth": {
        "mode": "dev", "insecure_dev_auth_on_network": override,
        "dev_users": {"admin": {"username": "admin", "token": tokens["admin"]}}}}, ["k8s"])
    app = App(settings)
    await app.start()
    sockets = bind_sockets(0, address)
    server = HTTPServer(app.tornado, xheaders=True)
    server.add_sockets(sockets)
    test = OdhTestServer(app, server, sockets[0].getsockname()[1], {})
    test.url = f"http://{address}:{test.port}"
    try:
        # A peer on the network, claiming loopback in X-Forwarded-For.
        resp = await test.fetch("/api/k8s/api/v1/namespaces",
                                headers={"X-Forwarded-For": "127.0.0.1"})
        assert resp.status == (200 if override else 401), resp.text
    finally:
        await test.close()


async def test_dev_auth_answers_only_loopback_host_names(odh_base_config, tokens):
    """DNS rebinding: a page on evil.example whose name now points at 127.0.0.1 is
    same-origin with the server; dev auth must not make it an administrator."""
    settings = build_settings({**odh_base_config, "auth": {
        "mode": "dev", "dev_users": {"admin": {"username": "admin", "token": tokens["admin"]}}}},
        ["k8s"])
    test = await start_server(settings)
    try:
        for host, status in (("evil.example", 401), (f"127.0.0.1:{test.port}", 200),
                             (f"localhost:{test.port}", 200), ("app.localhost", 200)):
            resp = await test.fetch("/api/k8s/api/v1/namespaces", headers={"Host": host})
            assert resp.status == status, (host, resp.text)
    finally:
        await test.close()


# -- item 4: cross-site requests cannot change state ---------------------------------------------
async def test_cross_site_state_changes_are_refused(odh_server):
    evil = {"Origin": "https://evil.example"}
    cm = f"csrf-{uuid.uuid4().hex[:6]}"
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": cm}}
    path = "/api/k8s/api/v1/namespaces/alice-project/configmaps"
    resp = await odh_server.fetch(path, "POST", user="alice", json=body, headers=evil)
    assert resp.status == 403 and "cross-site" in resp.json()["message"]
    resp = await odh_server.fetch(f"{path}/{cm}", user="alice")
    assert resp.status == 404  # nothing was created
    # Sec-Fetch-Site without Origin (what a browser sends on a cross-site GET)
    resp = await odh_server.fetch("/api/namespaces/alice-project/1", user="alice",
                                  headers={"Sec-Fetch-Site": "cross-site"})
    assert resp.status == 403
    resp = await odh_server.fetch("/api/namespaces/alice-project/1", user="alice",
                                  headers={"Sec-Fetch-Site": "same-site"})  # another route
    assert resp.status == 403
    resp = await odh_server.fetch("/api/namespaces/alice-project/0", user="alice",
                                  headers={"Sec-Fetch-Site": "same-origin"})  # the dashboard
    assert resp.status != 403, resp.text
    resp = await odh_server.fetch("/api/namespaces/alice-project/1", user="alice",
                                  headers=evil)
    assert resp.status == 403
    # A plain read from anywhere is not a state change.
    resp = await odh_server.fetch("/api/k8s/api/v1/namespaces/alice-project/configmaps",
                                  user="alice", headers={**evil,
                                                         "Sec-Fetch-Site": "cross-site"})
    assert resp.status == 200
    # The stock frontends are same-origin: their Origin is this server (or the proxy's host).
    same = {"Origin": odh_server.url, "Sec-Fetch-Site": "same-origin"}
    resp = await odh_server.fetch(path, "POST", user="alice", json=body, headers=same)
    assert resp.status == 201, resp.text
    proxied = {"Origin": "https://dash.example", "X-Forwarded-Host": "dash.example"}
    resp = await odh_server.fetch(f"{path}/{cm}", "DELETE", user="alice", headers=proxied)
    assert resp.status == 200, resp.text


async def test_json_bodies_need_a_json_content_type(odh_server):
    body = json.dumps({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding"})
    resp = await odh_server.fetch("/api/rolebindings", "POST", user="alice", body=body,
                                  headers={"Content-Type": "text/plain"})
    assert resp.status == 415, resp.text
    resp = await odh_server.fetch("/api/rolebindings", "POST", user="alice", body=body)
    assert resp.status == 415  # no content type at all: a form or a beacon
    resp = await odh_server.fetch("/api/rolebindings", "POST", user="alice", body=body,
                                  headers={"Content-Type": "application/json; charset=utf-8"})
    assert resp.status != 415


# -- item 5: identity before body, body timeouts, bounded identity cache ------------------------
async def test_anonymous_body_is_never_read(odh_server):
    size = 8 * 2**20
    reader, writer = await raw_request(
        odh_server.port, b"POST /api/rolebindings HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % size)
    try:
        # Not a byte of the body sent: the 401 must come anyway, and the connection close.
        status = await asyncio.wait_for(reader.readline(), 5)
        assert status.startswith(b"HTTP/1.1 401"), status
        rest = await asyncio.wait_for(reader.read(), 5)
        assert b"authentication required" in rest
    finally:
        writer.close()


async def test_a_trickling_body_is_cut_off(odh_server, tokens):
    reader, writer = await raw_request(
        odh_server.port, b"POST /api/rolebindings HTTP/1.1\r\nHost: x\r\n"
        b"Authorization: Bearer " + tokens["alice"].encode() + b"\r\n"
        b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
    started = time.monotonic()
    try:
        for _ in range(20):  # one byte every 2 s: longer than the 1 s idle timeout
            await asyncio.sleep(2)
            if reader.at_eof():
                break
            try:
                writer.write(b" ")
                await writer.drain()
            except ConnectionError:
                break
        data = await asyncio.wait_for(reader.read(), 5)
        assert data == b"" or not data.startswith(b"HTTP/1.1 2")
        assert time.monotonic() - started < 15
    finally:
        writer.close()


async def test_oversize_tokens_are_refused_before_any_review(odh_server):
    before = metric_lines((await odh_server.fetch("/metrics")).text, "odh_auth_reviews_total")
    for i in range(20):
        resp = await odh_server.fetch("/api/k8s/api/v1/namespaces",
                                      token=f"{i:04d}" + "x" * 48 * 1024)
        assert resp.status == 401 and "longer" in resp.json()["message"]
    after = metric_lines((await odh_server.fetch("/metrics")).text, "odh_auth_reviews_total")
    assert after == before
    ident = odh_server.app.plugin("core-auth")
    assert len(ident.identities) == 0 and len(ident.rejected) == 0


def test_identity_cache_is_bounded_by_bytes():
    cache: TTLCache[str] = TTLCache(60, 1000, maxbytes=10_000, sizeof=len)
    for i in range(100):
        cache.put(f"k{i}", "v" * 1000)
    assert cache.bytes <= 10_000 and len(cache) == 10
    assert cache.get("k99") is not None and cache.get("k0") is None


# -- item 6: metric labels a client cannot choose ------------------------------------------------
async def test_unknown_methods_share_one_metric_label(odh_server):
    words = [f"ZZ{uuid.uuid4().hex[:8].upper()}" for _ in range(25)]
    for word in words:
        resp = await odh_server.fetch(f"/nope/{word}", word, user="alice")
        assert resp.status in (404, 405)
    text = (await odh_server.fetch("/metrics")).text
    assert not [w for w in words if w in text]
    assert 'method="other"' in text


# -- item 7: every long-lived response counts against the stream limit ---------------------------
def test_the_stream_limit_is_on_by_default():
    assert Settings().limits.concurrent_streams > 0


async def test_watches_count_against_the_stream_limit(odh_server, tokens, sandbox_kube):
    watched = "/namespaces/alice-project/configmaps"
    base = f"/api/k8s/api/v1{watched}?watch=true"
    before = sandbox_kube.requests.count("GET", watched)
    held = []
    try:
        for _ in range(3):
            reader, writer = await raw_request(
                odh_server.port, f"GET {base} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                f"{tokens['alice']}\r\n\r\n".encode())
            held.append(writer)
        await eventually(lambda: sandbox_kube.requests.count("GET", watched) == before + 3,
                         "three upstream watches")
        resp = await odh_server.fetch(base, user="alice", timeout=10)
        assert resp.status == 429, resp.status
        assert sandbox_kube.requests.count("GET", watched) == before + 3  # none opened
        # bob has his own budget
        resp = await odh_server.fetch(
            "/api/k8s/api/v1/namespaces/bob-project/configmaps?watch=true&timeoutSeconds=1",
            user="bob", timeout=10)
        assert resp.status == 200
    finally:
        for writer in held:
            writer.close()
    await eventually(lambda: odh_server.app.limits.open_streams("alice") == 0,
                     "alice's streams to close")


async def test_websockets_count_against_the_stream_limit(odh_server):
    from tornado.httpclient import HTTPClientError

    path = "/wss/k8s/api/v1/namespaces/alice-project/configmaps?watch=true"
    sockets = [await odh_server.ws(path, user="alice") for _ in range(3)]
    try:
        with pytest.raises(HTTPClientError) as err:
            await odh_server.ws(path, user="alice")
        assert err.value.code == 429
    finally:
        for ws in sockets:
            ws.close()
    await eventually(lambda: odh_server.app.limits.open_streams("alice") == 0,
                     "alice's sockets to close")


# -- item 8 for the k8s pass-through: dot segments however encoded ------------------------------
@pytest.mark.parametrize("path", ["/api/k8s/api/v1/namespaces/%252e%252e/x",
                                  "/api/k8s/api/v1/namespaces/a%3Fwatch=true",
                                  "/api/k8s/api/v1/namespaces/a%23b"])
async def test_k8s_paths_with_encoded_escapes_are_refused(odh_server, path):
    resp = await odh_server.fetch(path, user="alice")
    assert resp.status == 400, resp.text


# -- item 9: no unhandled exception answers 500 -------------------------------------------------
async def test_deeply_nested_json_is_a_400(odh_server):
    body = "[" * 200_000 + "]" * 200_000
    resp = await odh_server.fetch("/api/rolebindings", "POST", user="alice", body=body,
                                  headers={"Content-Type": "application/json"})
    assert resp.status == 400, resp.text
    # JSON a route reads from a header
    nested = "[" * 5000 + "]" * 5000
    resp = await odh_server.fetch("/api/config", user="alice",
                                  headers={"X-Odh-Feature-Flags": nested})
    assert resp.status == 400, resp.text


@pytest.mark.parametrize("ops", [
    [{"op": "add", "path": "/metadata/labels/x"}],           # add without value
    [{"op": "move", "path": "/metadata/labels/x"}],          # move without from
    [{"op": "copy", "path": "/a", "from": 5}],
    [{"op": "replace", "path": "/a~2b", "value": 1}],        # bad pointer escape
    [{"op": "test", "path": "/a"}],
])
async def test_malformed_json_patch_is_a_400(odh_server, ops):
    ns = odh_server.app.settings.kubernetes.dashboard_namespace
    for path in (f"/api/dashboardConfig/{ns}/odh-dashboard-config",
                 f"/api/templates/{ns}/some-template"):
        resp = await odh_server.fetch(path, "PATCH", user="admin", json=ops)
        assert resp.status == 400, (path, resp.status, resp.text)


async def test_a_client_leaving_before_upstream_headers_is_a_quiet_499(
        odh_server, sandbox_kube, tokens, caplog):
    ns = f"depart-{uuid.uuid4().hex[:6]}"
    sandbox_kube.faults.add_latency(3, path_regex=f"/namespaces/{ns}/", times=1)
    caplog.set_level(logging.INFO)
    reader, writer = await raw_request(
        odh_server.port, f"GET /api/k8s/api/v1/namespaces/{ns}/configmaps?watch=true "
        f"HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {tokens['alice']}\r\n\r\n".encode())
    await eventually(lambda: sandbox_kube.requests.count("GET", f"/namespaces/{ns}/"),
                     "the request to reach the API server")
    writer.close()  # gone before the API server answered
    await eventually(lambda: 'code="499"' in "".join(
        metric_lines(__import__("prometheus_client").generate_latest(
            odh_server.app.metrics.registry).decode(), "odh_http_request_duration_seconds_count")),
        "the 499 to be counted")
    text = (await odh_server.fetch("/metrics")).text
    assert not [line for line in metric_lines(text, "odh_http_request_duration_seconds_count")
                if "KubeProxyHandler" in line and 'code="500"' in line]
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]
    access = [r for r in caplog.records if r.name == "odh.access" and ns in r.getMessage()]
    assert access and " 499 " in access[-1].getMessage()


async def test_shutdown_with_a_call_waiting_on_upstream_is_quiet(
        odh_base_config, sandbox_kube, tokens, caplog):
    """SIGTERM's path: drain (grace over), close every connection, stop; the pass-through call
    still waiting for the API server's headers ends as a client departure, not an error."""
    ns = f"sigterm-{uuid.uuid4().hex[:6]}"
    sandbox_kube.faults.add_latency(3, path_regex=f"/namespaces/{ns}/", times=1)
    settings = build_settings({**odh_base_config, "server": {
        **odh_base_config["server"], "grace_period": 0.2}}, ["k8s"])
    test = await start_server(settings, tokens=tokens)
    caplog.set_level(logging.INFO)
    pending = asyncio.ensure_future(test.fetch(
        f"/api/k8s/api/v1/namespaces/{ns}/configmaps?watch=true", user="alice"))
    await eventually(lambda: sandbox_kube.requests.count("GET", f"/namespaces/{ns}/"),
                     "the request to reach the API server")
    await test.close()
    with pytest.raises(Exception):  # the connection was closed under the client
        await pending
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]


# -- item 14: the document lists only methods a route answers; 405 says what is allowed ---------
async def test_405_lists_the_allowed_methods(odh_server):
    resp = await odh_server.fetch("/api/featurestores/ns/fs/api/v1/projects", "POST",
                                  user="alice", body=b"")
    assert resp.status == 405
    assert resp.headers["Allow"] == "GET"
    doc = (await odh_server.fetch("/api/openapi.json", user="alice")).json()
    item = doc["paths"]["/api/featurestores/{namespace}/{name}/{path}"]
    assert sorted(k for k in item if not k.startswith("x-") and k != "parameters") == ["get"]
