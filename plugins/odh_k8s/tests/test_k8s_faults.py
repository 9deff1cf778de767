"""API server down or slow: the pass-through answers 502 / 504 JSON."""
from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from odh_core import Identity
from odh_core.testing import eventually, static_identities

CM = "/api/k8s/api/v1/namespaces/alice-project/configmaps"


@pytest.fixture
def odh_extra_plugins(tokens: dict[str, str]) -> list[Any]:
    # Identities without asking the cluster: the request must reach the proxy even when the
    # API server is unreachable (the core's identity review would fail first otherwise).
    return [static_identities({tokens["alice"]: Identity("alice")})]


@pytest.fixture
def odh_config(odh_base_config: dict[str, Any]) -> dict[str, Any]:
    return {**odh_base_config,
            "plugins": {"k8s": {"idle_timeout": 0.5, "connect_timeout": 2}}}


async def test_slow_api_server_is_504(odh_server, sandbox_kube, uid):
    sandbox_kube.faults.add_latency(5, path_regex=f"/configmaps/slow-{uid}$", times=1)
    resp = await odh_server.fetch(f"{CM}/slow-{uid}", user="alice")
    assert resp.status == 504, resp.text
    body = resp.json()
    assert body["success"] is False and "did not answer in time" in body["message"]
    # The latency was spent on that one request: the next one is the API server's own answer.
    again = await odh_server.fetch(f"{CM}/slow-{uid}", user="alice")
    assert again.status == 404 and again.json()["kind"] == "Status"


async def test_api_server_down_is_502(odh_server, sandbox_kube, direct):
    sandbox_kube.faults.refuse_connections(1.0)
    try:
        resp = await odh_server.fetch(CM, user="alice")
        assert resp.status == 502, resp.text
        body = resp.json()
        assert body["success"] is False
        assert body["message"].startswith("the Kubernetes API server is unreachable (")
    finally:
        # The sandbox is shared by the session: wait until it listens again.
        async def listening() -> bool:
            try:
                async with direct.get(direct.kube_url + "/version") as r:
                    return r.status == 200
            except aiohttp.ClientConnectionError:
                return False

        await eventually(listening, "the sandbox API server listening again", timeout=15)
    assert (await odh_server.fetch(CM, user="alice")).status == 200
