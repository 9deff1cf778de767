"""The dashboard frontend's shell (`/`, assets, SPA fallback) over HTTP: the remotes block from
the federation plugin's module list, cache headers, the no-build page, path safety."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from odh_core import Plugin, hookimpl

INDEX = """<!doctype html><html><head><title>ODH</title>
<script id="mf-remotes-json" type="application/json">[{"name":"stale","remoteEntry":"/x"}]</script>
</head><body><div id="root"></div><script src="/app.3f2a9c1b.bundle.js"></script></body></html>
"""
BIG = bytes(range(256)) * 4096 * 3  # 3 MiB: streamed in chunks


def remotes(html: str) -> Any:
    m = re.search(r'<script id="mf-remotes-json" type="application/json">(.*?)</script>', html,
                  re.DOTALL)
    assert m, html
    return json.loads(m.group(1))


@pytest.fixture
def build_dir(tmp_path: Path) -> Path:
    root = tmp_path / "build"
    (root / "fonts").mkdir(parents=True)
    (root / "images").mkdir()
    (root / "index.html").write_text(INDEX)
    (root / "app.3f2a9c1b.bundle.js").write_text("console.log('app');")
    (root / "vendor-0123456789abcdef.css").write_text("body{}")
    (root / "fonts" / "RedHatText.woff2").write_bytes(b"wOF2font")
    (root / "images" / "logo.svg").write_text("<svg/>")
    (root / "manifest.json").write_text('{"name": "odh"}')
    (root / "big.bin").write_bytes(BIG)
    (root / ".env").write_text("SECRET=1")
    (tmp_path / "outside.txt").write_text("outside the build")
    return root


class FakeFederation(Plugin):
    """Publishes a module list the way the federation plugin does."""

    @hookimpl
    async def startup(self, app: Any) -> None:
        app.provide("federation.modules", lambda: [
            {"name": "evil</script><script>alert(1)//", "remoteEntry": "/remoteEntry.js"}])


# -- without a build ----------------------------------------------------------------------------
async def test_no_build_page(odh_server):
    resp = await odh_server.fetch("/")
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/html")
    assert "/api/openapi.json" in resp.text and "static_dir" in resp.text
    assert resp.headers["Cache-Control"] == "no-cache"
    for path in ("/projects", "/api/nope", "/wss/nope", "/_mf/m/remoteEntry.js"):
        resp = await odh_server.fetch(path)
        assert resp.status == 404 and resp.json()["message"], path
    assert (await odh_server.fetch("/api/nope", "POST", json={})).status == 404


# -- with a build -------------------------------------------------------------------------------
class TestWithBuild:
    @pytest.fixture
    def odh_plugins(self) -> list[str]:
        return ["dashboard", "federation"]

    @pytest.fixture
    def odh_config(self, odh_base_config, build_dir):
        return {**odh_base_config, "plugins": {
            "dashboard": {"static_dir": str(build_dir)},
            "federation": {"modules": [
                {"name": "modelRegistry", "backend": {
                    "remoteEntry": "/remoteEntry.js",
                    "service": {"name": "model-registry-ui", "port": 8043}}},
                {"name": "genAi", "remoteEntry": "/gen-ai/remoteEntry.js",
                 "service": {"name": "gen-ai-ui", "port": 8080}}]}}}

    async def test_index_carries_the_federation_modules(self, odh_server):
        expected = odh_server.app.service("federation.modules")()
        assert {m["name"] for m in expected} == {"modelRegistry", "genAi"}
        for path in ("/", "/index.html"):
            resp = await odh_server.fetch(path)  # anonymous: a browser has no token yet
            assert resp.status == 200, resp.text
            assert resp.headers["Cache-Control"] == "no-cache"
            assert remotes(resp.text) == [{"name": m["name"], "remoteEntry": m["remoteEntry"]}
                                          for m in expected]
            assert '<div id="root">' in resp.text

    async def test_spa_fallback_for_non_api_paths(self, odh_server):
        for path in ("/projects", "/projects/alice-project/workbenches", "/modelRegistry/x.y",
                     "/..%2Foutside.txt", "/.env"):
            resp = await odh_server.fetch(path, user="alice")
            assert resp.status == 200, path
            assert resp.headers["Cache-Control"] == "no-cache"
            assert '<div id="root">' in resp.text and "outside the build" not in resp.text
            assert "SECRET" not in resp.text
        for path in ("/api/nope", "/api/k8s-ish", "/wss/k8s/x", "/_mf/nope/remoteEntry.js",
                     "/healthz/x"):
            resp = await odh_server.fetch(path)
            assert resp.status in (401, 404), path  # /_mf is the federation plugin's
            assert "json" in resp.headers["Content-Type"], path
        assert (await odh_server.fetch("/projects", "POST", json={})).status == 404
        # Specific routes keep winning over the fallback.
        assert (await odh_server.fetch("/healthz")).status == 200
        assert (await odh_server.fetch("/api/status")).status == 401

    async def test_asset_cache_policy(self, odh_server):
        cases = {
            "/app.3f2a9c1b.bundle.js": ("public, max-age=31536000, immutable", b"console.log"),
            "/vendor-0123456789abcdef.css": ("public, max-age=31536000, immutable", b"body{}"),
            "/fonts/RedHatText.woff2": ("public, max-age=86400", b"wOF2font"),
            "/images/logo.svg": ("public, max-age=86400", b"<svg/>"),
            "/manifest.json": ("no-cache", b'{"name": "odh"}'),
        }
        for path, (policy, start) in cases.items():
            resp = await odh_server.fetch(path)
            assert resp.status == 200, path
            assert resp.headers["Cache-Control"] == policy, path
            assert resp.body.startswith(start), path
        resp = await odh_server.fetch("/app.3f2a9c1b.bundle.js")
        assert "javascript" in resp.headers["Content-Type"]
        again = await odh_server.fetch("/app.3f2a9c1b.bundle.js",
                                       headers={"If-None-Match": resp.headers["ETag"]})
        assert again.status == 304 and again.body == b""

    async def test_large_file_streams_whole(self, odh_server):
        resp = await odh_server.fetch("/big.bin")
        assert resp.status == 200 and resp.body == BIG
        assert int(resp.headers["Content-Length"]) == len(BIG)
        head = await odh_server.fetch("/big.bin", "HEAD")
        assert head.status == 200 and head.body == b""


class TestRemotesEscaping:
    @pytest.fixture
    def odh_extra_plugins(self):
        return [("fakefed", FakeFederation)]

    @pytest.fixture
    def odh_config(self, odh_base_config, build_dir):
        return {**odh_base_config, "plugins": {"dashboard": {"static_dir": str(build_dir)}}}

    async def test_a_module_name_cannot_break_out_of_the_block(self, odh_server):
        resp = await odh_server.fetch("/")
        assert resp.text.count("</script>") == INDEX.count("</script>")
        assert remotes(resp.text) == [{"name": "evil</script><script>alert(1)//",
                                       "remoteEntry": "/remoteEntry.js"}]


class TestSegmentInThePolicy:
    """The page allows Segment's origins only while a segment key is on; the sandbox seeds
    none, so by default nothing leaves the origin."""

    @pytest.fixture
    def odh_config(self, odh_base_config, build_dir, dash_ns):
        return {**odh_base_config,
                "kubernetes": {**odh_base_config["kubernetes"], "dashboard_namespace": dash_ns},
                "plugins": {"dashboard": {"static_dir": str(build_dir)}}}

    async def test_segment_origins_follow_the_key(self, odh_server, admin_kube, dash_ns):
        import asyncio
        import base64

        from odh_core.testing import eventually

        async def policy(path: str = "/") -> str:
            return (await odh_server.fetch(path)).headers["Content-Security-Policy"]

        assert (await odh_server.fetch("/api/segment-key", user="alice")).json() == {
            "segmentKey": ""}
        csp = await policy()
        assert "'unsafe-eval'" in csp and "console.redhat.com" not in csp
        secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "odh-segment-key"},
                  "type": "Opaque", "data": {"segmentKey": base64.b64encode(b"k1").decode()}}
        status, body = await asyncio.to_thread(
            admin_kube.sync, "POST", f"/api/v1/namespaces/{dash_ns}/secrets", secret)
        assert status == 201, body
        try:
            csp = await eventually(lambda: _with_segment(policy()), "Segment in the CSP")
            assert "script-src 'self' 'unsafe-eval' https://console.redhat.com/connections/cdn/;" \
                in csp and "connect-src 'self' https://console.redhat.com/connections/;" in csp
            # Only the page: the build's files keep the base policy.
            assert "console.redhat.com" not in await policy("/app.3f2a9c1b.bundle.js")
        finally:
            await asyncio.to_thread(admin_kube.sync, "DELETE",
                                    f"/api/v1/namespaces/{dash_ns}/secrets/odh-segment-key")
        await eventually(lambda: _without_segment(policy()), "Segment gone from the CSP")


async def _with_segment(csp: Any) -> str | None:
    value = await csp
    return value if "console.redhat.com" in value else None


async def _without_segment(csp: Any) -> bool:
    return "console.redhat.com" not in await csp
