"""Serving built frontends (odh_core.frontend) over HTTP: each app on its own host name with the
API on every host, its own CSP next to the API's strict one, StaticFileHandler semantics (ETag,
304, ranges), gzip made once, cache policy and the SPA fallback for deep links with dots."""
from __future__ import annotations

import functools
import gzip
from pathlib import Path

import pytest

from odh_core.app import App
from odh_core.loader import PluginLoadError
from odh_core.testing import build_settings

DASH_INDEX = """<!doctype html><html><head><title>Open Data Hub</title>
<script id="mf-remotes-json" type="application/json"><?- mfRemotesJson ?></script>
<script defer src="/app.a73db48e6250f323.js"></script></head>
<body><div id="root"></div></body></html>
"""
TEC_INDEX = """<!doctype html><html><head><title>ODH-TEC</title><base href="/">
<script defer="defer" src="/main.bundle.js"></script></head>
<body><div id="root"></div></body></html>
"""
BUNDLE = ("/* the bundle */\n" + "console.log('ODH-TEC says hello');\n" * 4000).encode()
TEC_HOST = "tec.localhost"


@pytest.fixture
def dash_dir(tmp_path: Path) -> Path:
    root = tmp_path / "dashboard"
    root.mkdir()
    (root / "index.html").write_text(DASH_INDEX)
    (root / "app.a73db48e6250f323.js").write_text("console.log('dashboard');" * 100)
    return root


@pytest.fixture
def tec_dir(tmp_path: Path) -> Path:
    root = tmp_path / "tec"
    (root / "images").mkdir(parents=True)
    (root / "locales" / "en").mkdir(parents=True)
    (root / "index.html").write_text(TEC_INDEX)
    (root / "main.bundle.js").write_bytes(BUNDLE)
    (root / "078865af129336cde269.woff2").write_bytes(b"wOF2" + bytes(range(256)) * 8)
    (root / "images" / "favicon.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    (root / "locales" / "en" / "translation.json").write_text('{"hello": "Hello"}')
    return root


@pytest.fixture
def odh_plugins() -> list[str]:
    return ["dashboard", "s3"]


def configure(base: dict, **plugins: dict) -> dict:
    return {**base, "plugins": plugins}


class TestTwoHosts:
    @pytest.fixture
    def odh_config(self, odh_base_config, dash_dir, tec_dir):
        return configure(odh_base_config, dashboard={"static_dir": str(dash_dir)},
                         s3={"static_dir": str(tec_dir), "host": TEC_HOST.upper()})

    async def test_each_app_owns_the_root_of_its_host(self, odh_server):
        dash = await odh_server.fetch("/projects/p1")
        assert dash.status == 200 and "mf-remotes-json" in dash.text
        assert '<script id="mf-remotes-json" type="application/json">[' in dash.text
        assert "'unsafe-eval'" in dash.headers["Content-Security-Policy"]
        assert "jsdelivr" not in dash.headers["Content-Security-Policy"]
        for path in ("/", "/objects/my.bucket.with.dots", "/objects/b/ZGF0YS8=", "/settings"):
            tec = await odh_server.fetch(path, headers={"Host": f"{TEC_HOST}:8080"})
            assert tec.status == 200 and "<title>ODH-TEC</title>" in tec.text, path
            assert tec.headers["Content-Type"].startswith("text/html")
            assert tec.headers["Cache-Control"] == "no-cache" and tec.headers["ETag"]
            csp = tec.headers["Content-Security-Policy"]
            assert ("https://cdn.jsdelivr.net/npm/monaco-editor@0.43.0/min/vs/" in
                    csp.split("script-src")[1].split(";")[0]), csp
            assert "'unsafe-eval'" not in csp and "frame-ancestors 'none'" in csp

    async def test_the_api_is_on_every_host_with_its_strict_policy(self, odh_server):
        strict = odh_server.app.settings.server.security_headers.content_security_policy
        for host in (TEC_HOST, "127.0.0.1", "dashboard.localhost"):
            health = await odh_server.fetch("/api/health", headers={"Host": host})
            assert health.status == 200 and health.json() == {"health": "ok"}, host
            assert health.headers["Content-Security-Policy"] == strict
            # The dashboard's and ODH-TEC's APIs answer (not the other app's index.html).
            for path in ("/api/status", "/api/buckets", "/api/settings/s3"):
                resp = await odh_server.fetch(path, headers={"Host": host})
                assert resp.status == 401 and "json" in resp.headers["Content-Type"], path
            missing = await odh_server.fetch("/api/nope", headers={"Host": host})
            assert missing.status == 404 and missing.json()["message"]
            assert missing.headers["Content-Security-Policy"] == strict

    async def test_a_missing_asset_is_a_json_404_not_the_shell(self, odh_server):
        tec = {"Host": TEC_HOST}
        for path in ("/images/missing.svg", "/locales/en/missing.json", "/locales/de/x.json",
                     "/main.bundle.js.map", "/1234abcd5678ef90.woff2", "/chunk.0a1b2c3d4e.js"):
            resp = await odh_server.fetch(path, headers=tec)
            assert resp.status in (404,) and "json" in resp.headers["Content-Type"], path
        assert (await odh_server.fetch("/objects", "POST", headers=tec)).status == 404

    async def test_static_file_semantics(self, odh_server):
        tec = {"Host": TEC_HOST, "Accept-Encoding": "identity"}
        fetch = functools.partial(odh_server.fetch, decompress_response=False)  # else its
        # client asks for gzip whatever the headers say
        plain = await fetch("/main.bundle.js", headers=tec)
        assert plain.status == 200 and plain.body == BUNDLE
        assert "Content-Encoding" not in plain.headers
        assert plain.headers["Cache-Control"] == "no-cache"  # not hashed: revalidate
        assert plain.headers["Content-Type"] == "text/javascript; charset=utf-8"
        assert plain.headers["Last-Modified"] and plain.headers["Accept-Ranges"] == "bytes"
        assert plain.headers["Vary"] == "Accept-Encoding"
        again = await fetch("/main.bundle.js", headers={
            **tec, "If-None-Match": plain.headers["ETag"]})
        assert again.status == 304 and again.body == b""
        since = await fetch("/main.bundle.js", headers={
            **tec, "If-Modified-Since": plain.headers["Last-Modified"]})
        assert since.status == 304
        part = await fetch("/main.bundle.js", headers={**tec, "Range": "bytes=5-99"})
        assert part.status == 206 and part.body == BUNDLE[5:100]
        assert part.headers["Content-Range"] == f"bytes 5-99/{len(BUNDLE)}"
        head = await fetch("/main.bundle.js", "HEAD", headers=tec)
        assert head.status == 200 and int(head.headers["Content-Length"]) == len(BUNDLE)
        font = await fetch("/078865af129336cde269.woff2", headers=tec)
        assert font.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        icon = await fetch("/images/favicon.svg", headers=tec)
        assert icon.headers["Cache-Control"] == "public, max-age=86400"

    async def test_gzip_made_once_and_served_with_its_own_etag(self, odh_server):
        tec = {"Host": TEC_HOST, "Accept-Encoding": "gzip, deflate, br"}
        first = await odh_server.fetch("/main.bundle.js", headers=tec, decompress_response=False)
        assert first.status == 200 and first.headers["Content-Encoding"] == "gzip"
        assert gzip.decompress(first.body) == BUNDLE and len(first.body) < len(BUNDLE) // 10
        assert int(first.headers["Content-Length"]) == len(first.body)
        assert first.headers["Vary"] == "Accept-Encoding"
        plain = await odh_server.fetch("/main.bundle.js", decompress_response=False,
                                       headers={"Host": TEC_HOST, "Accept-Encoding": "identity"})
        assert plain.headers["ETag"] != first.headers["ETag"]
        cached = await odh_server.fetch("/main.bundle.js", decompress_response=False, headers={
            **tec, "If-None-Match": first.headers["ETag"]})
        assert cached.status == 304
        part = await odh_server.fetch("/main.bundle.js", decompress_response=False,
                                      headers={**tec, "Range": "bytes=0-9"})
        assert part.status == 206 and part.body == first.body[:10]
        # Made once: the second request is served from the same bytes.
        frontend = next(r.kwargs["frontend"] for _, r in odh_server.app.routes
                        if r.host == TEC_HOST)
        assert list(frontend._gzipped) == [str(Path(frontend.root) / "main.bundle.js")]
        # Not worth it: a woff2 (already compressed) is sent as is.
        font = await odh_server.fetch("/078865af129336cde269.woff2", headers=tec,
                                      decompress_response=False)
        assert "Content-Encoding" not in font.headers


class TestOneFrontendAlone:
    @pytest.fixture
    def odh_config(self, odh_base_config, tec_dir):
        # Only ODH-TEC's build: it owns "/" on every host; the dashboard (no build) yields.
        return configure(odh_base_config, s3={"static_dir": str(tec_dir)})

    async def test_tec_owns_the_root_without_a_host_name(self, odh_server):
        for host in ("127.0.0.1", "anything.localhost"):
            resp = await odh_server.fetch("/objects/my.bucket.with.dots", headers={"Host": host})
            assert resp.status == 200 and "<title>ODH-TEC</title>" in resp.text
        assert (await odh_server.fetch("/api/status")).status == 401


def test_two_builds_on_one_host_fail_with_a_clear_message(sandbox_kube, tmp_path):
    for dash_host, tec_host in ((None, None), ("odh.example.com", "ODH.example.com")):
        settings = build_settings({"sandbox": {"mode": "off"}, "plugins": {
            "dashboard": {"static_dir": str(tmp_path), "host": dash_host},
            "s3": {"static_dir": str(tmp_path), "host": tec_host}}}, ["dashboard", "s3"])
        with pytest.raises(PluginLoadError) as err:
            App(settings)
        msg = str(err.value)
        assert "route '/(.*)'" in msg and "already registered" in msg
        assert "own host name" in msg
        assert "plugins.s3.host" in msg and "plugins.dashboard.host" in msg


def test_builds_on_different_hosts_do_not_clash(tmp_path):
    settings = build_settings({"sandbox": {"mode": "off"}, "plugins": {
        "dashboard": {"static_dir": str(tmp_path), "host": "odh.example.com"},
        "s3": {"static_dir": str(tmp_path), "host": "tec.example.com"}}}, ["dashboard", "s3"])
    app = App(settings)
    assert sorted(r.host for _, r in app.routes if r.pattern == "/(.*)") == [
        "odh.example.com", "tec.example.com"]


@pytest.mark.parametrize("host", ["tec.localhost:8080", "https://tec.example.com", ".*",
                                  "tec example"])
def test_a_host_is_a_plain_host_name(host):
    with pytest.raises(Exception, match="host"):
        App(build_settings({"sandbox": {"mode": "off"}, "plugins": {"s3": {"host": host}}},
                           ["s3"]))


class TestSymlinkOut:
    @pytest.fixture
    def odh_config(self, odh_base_config, tec_dir, tmp_path):
        (tmp_path / "secret.js").write_text("const secret = 'outside the build';" * 100)
        (tec_dir / "leak.js").symlink_to(tmp_path / "secret.js")
        return configure(odh_base_config, s3={"static_dir": str(tec_dir)})

    async def test_a_symlink_out_of_the_build_is_not_served(self, odh_server):
        resp = await odh_server.fetch("/leak.js")
        assert resp.status == 404 and b"outside the build" not in resp.body
        frontend = next(r.kwargs["frontend"] for _, r in odh_server.app.routes
                        if r.pattern == "/(.*)" and r.kwargs["frontend"].root)
        assert not frontend._gzipped
