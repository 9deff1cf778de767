"""Hub access rules: token only to the endpoint's origin, proxy honoured, no foreign URLs."""
from __future__ import annotations

from pathlib import Path
from typing import Any, AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from hf_testkit import MiB
from odh_sandbox.hub import DEMO_TOKEN, SandboxHub, SizedFile
from odh_hf.hub import HubClient, HubSettings


@pytest.fixture
async def cross_origin_hub() -> AsyncIterator[SandboxHub]:
    """A hub whose CDN redirects go to another host name (localhost vs 127.0.0.1)."""
    hub = SandboxHub(tokens={DEMO_TOKEN: "sandbox-user"}, cdn_host="localhost")
    hub.add_model("org/m", {"config.json": b"{}", "w.safetensors": SizedFile(MiB, seed=5)})
    await hub.start()
    yield hub
    await hub.stop()


async def _download(client: HubClient, token: str | None, path: str) -> bytes:
    info = await client.model_info("org/m", "main", token)
    async with client.open(client.file_url(info, path), token=token) as resp:
        assert resp.status == 200
        return await resp.read()


async def test_token_never_follows_a_redirect_to_another_host(
        cross_origin_hub: SandboxHub) -> None:
    client = HubClient(HubSettings(cross_origin_hub.endpoint))
    await client.start()
    try:
        body = await _download(client, DEMO_TOKEN, "w.safetensors")
    finally:
        await client.close()
    assert body == cross_origin_hub.file_bytes("org/m", "w.safetensors")
    by_phase = {r.phase: r for r in cross_origin_hub.requests}
    assert by_phase["resolve"].has_authorization and by_phase["api"].has_authorization
    assert by_phase["cdn"].headers["Host"].startswith("localhost:")
    assert not by_phase["cdn"].has_authorization


async def test_urls_outside_the_endpoint_are_refused(cross_origin_hub: SandboxHub) -> None:
    client = HubClient(HubSettings(cross_origin_hub.endpoint))
    await client.start()
    try:
        with pytest.raises(ValueError, match="outside"):
            async with client.open("http://localhost:1/x", token=None):
                pass
    finally:
        await client.close()


@pytest.fixture
async def forward_proxy() -> AsyncIterator[tuple[str, list[str]]]:
    """A plain-HTTP forward proxy that records the absolute URLs it was asked for."""
    seen: list[str] = []
    session = aiohttp.ClientSession(auto_decompress=False)

    async def handle(request: web.Request) -> web.StreamResponse:
        url = str(request.url)
        seen.append(url)
        headers = {k: v for k, v in request.headers.items()
                   if k.lower() not in ("host", "proxy-connection", "connection")}
        async with session.request(request.method, url, headers=headers,
                                   allow_redirects=False) as up:
            resp = web.StreamResponse(status=up.status)
            for k, v in up.headers.items():
                if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                    resp.headers[k] = v
            await resp.prepare(request)
            async for chunk in up.content.iter_chunked(64 * 1024):
                await resp.write(chunk)
            await resp.write_eof()
            return resp

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}", seen
    await runner.cleanup()
    await session.close()


async def test_proxy_is_used_unless_no_proxy_matches(
        cross_origin_hub: SandboxHub, forward_proxy: tuple[str, list[str]]) -> None:
    proxy, seen = forward_proxy
    client = HubClient(HubSettings(cross_origin_hub.endpoint, http_proxy=proxy))
    await client.start()
    try:
        body = await _download(client, None, "w.safetensors")
    finally:
        await client.close()
    assert len(body) == MiB
    assert any("/api/models/org/m/revision/main" in u for u in seen)
    assert any("/org/m/resolve/" in u for u in seen)
    assert any("/cdn/" in u and u.startswith("http://localhost:") for u in seen)
    seen.clear()
    client = HubClient(HubSettings(cross_origin_hub.endpoint, http_proxy=proxy,
                                   no_proxy="127.0.0.1,localhost"))
    await client.start()
    try:
        await _download(client, None, "config.json")
    finally:
        await client.close()
    assert seen == []


async def test_hub_ca_bundle_missing_fails_the_start_unreadable_is_a_503_until_fixed(
        cross_origin_hub: SandboxHub, sandbox_kube: Any, tmp_path: Any) -> None:
    """The bundle is parsed on first use (off the loop, not at start): a missing file still
    stops the start; one that does not parse answers 503 and is read again next time."""
    from odh_hf.hub import HubError

    with pytest.raises(ValueError, match="not a file"):
        HubClient(HubSettings(cross_origin_hub.endpoint, ca_bundle=str(tmp_path / "none.pem")))
    bundle = tmp_path / "ca.pem"
    bundle.write_text("not a certificate\n")
    client = HubClient(HubSettings(cross_origin_hub.endpoint, ca_bundle=str(bundle)))
    await client.start()
    try:
        with pytest.raises(HubError) as err:
            await client.model_info("org/m", "main", None)
        assert err.value.status == 503 and "CA bundle" in err.value.message
        bundle.write_text(Path(sandbox_kube.ca_file).read_text())  # the operator fixes it
        assert (await client.model_info("org/m", "main", None)).repo == "org/m"
    finally:
        await client.close()
