"""Feature store routes (issue 13, COMPAT.md §3 "feature store") against the sandbox and a fake
Feast registry on loopback: discovery as the user (old shapes), the user's token sent to the
registry, the GET-only proxy with its name/path checks, not-installed and registry-down."""
from __future__ import annotations

import json
from typing import Any, AsyncIterator

import pytest
import pytest_asyncio
import tornado.web
from tornado.httpserver import HTTPServer
from tornado.testing import bind_unused_port

PROJECTS = {"projects": [{"spec": {"name": "credit_scoring", "description": " Credit risk "}},
                         {"spec": {"name": "other_project"}}]}
PERMISSIONS = {"permissions": [{"spec": {"actions": ["READ", "DESCRIBE"]}},
                               {"spec": {"actions": ["READ"]}}]}


class FakeRegistry:
    """Answers `/<namespace>/<name>/api/v1/...` for alice's token only (others: no projects)."""

    def __init__(self, alice_token: str):
        self.alice_token = alice_token
        self.seen: list[tuple[str, str, str]] = []  # (method, uri, authorization)
        outer = self

        class Handler(tornado.web.RequestHandler):
            def get(self, path: str) -> None:
                auth = self.request.headers.get("Authorization", "")
                outer.seen.append(("GET", self.request.uri, auth))
                mine = auth == f"Bearer {outer.alice_token}"
                if path.endswith("/api/v1/projects"):
                    self.write(PROJECTS if mine else {"projects": []})
                elif path.endswith("/api/v1/permissions"):
                    self.write(PERMISSIONS if mine else {"permissions": []})
                else:
                    self.set_status(200 if mine else 403)
                    self.write({"path": path, "query": self.request.query})

        self.app = tornado.web.Application([(r"/(.*)", Handler)])


@pytest_asyncio.fixture
async def registry(tokens: dict[str, str]) -> AsyncIterator[tuple[FakeRegistry, int]]:
    """Started on the test's loop (the app's requests reach it there)."""
    sock, port = bind_unused_port()
    fake = FakeRegistry(tokens["alice"])
    server = HTTPServer(fake.app)
    server.add_sockets([sock])
    yield fake, port
    server.stop()
    await server.close_all_connections()


@pytest.fixture
def odh_config(odh_base_config: dict[str, Any], dash_ns: str,
               registry: tuple[FakeRegistry, int]) -> dict[str, Any]:
    return {**odh_base_config,
            "kubernetes": {**odh_base_config["kubernetes"], "dashboard_namespace": dash_ns},
            "plugins": {"dashboard": {
                "feast_registry_url": f"{{scheme}}://127.0.0.1:{registry[1]}/{{namespace}}/{{name}}"}}}


async def test_discovery_as_the_user(odh_server: Any, registry: tuple[FakeRegistry, int],
                                     tokens: dict[str, str]) -> None:
    fake, port = registry
    resp = await odh_server.fetch("/api/featurestores", user="alice")
    assert resp.status == 200, resp.body
    body = resp.json()
    assert body["enabledCRDCount"] == 1
    [store] = body["featureStores"]
    assert store["name"] == "demo" and store["project"] == "credit_scoring"
    assert store["namespace"] == "feast-demo"
    assert store["registry"] == {"path": f"http://127.0.0.1:{port}/feast-demo/demo"}
    assert store["status"]["conditions"][0]["type"] == "Registry"
    assert ("GET", "/feast-demo/demo/api/v1/projects", f"Bearer {tokens['alice']}") in fake.seen

    # bob may not list FeatureStores in feast-demo: nothing, and the registry never sees him.
    fake.seen.clear()
    resp = await odh_server.fetch("/api/featurestores", user="bob")
    assert resp.json() == {"featureStores": [], "enabledCRDCount": 0}
    assert fake.seen == []
    assert (await odh_server.fetch("/api/featurestores")).status == 401

    resp = await odh_server.fetch("/api/featurestores/workbench-integration", user="alice")
    assert resp.status == 200
    assert resp.json() == {"namespaces": [{"namespace": "feast-demo", "clientConfigs": [
        {"configName": "demo", "projectName": "credit_scoring",
         "hasAccessToFeatureStore": True}]}]}

    resp = await odh_server.fetch("/api/featurestores/projects-with-workbenches", user="alice")
    assert resp.status == 200, resp.body
    [row] = resp.json()["connectedWorkbenches"]
    assert row["feastProjectName"] == "credit_scoring" and row["namespace"] == "feast-demo"
    assert row["description"] == "Credit risk"
    assert row["permissionLevel"] == ["READ", "DESCRIBE"]
    assert isinstance(row["connectedWorkbenches"], list)
    resp = await odh_server.fetch("/api/featurestores/projects-with-workbenches", user="bob")
    assert resp.json() == {"connectedWorkbenches": []}


async def test_registry_proxy(odh_server: Any, registry: tuple[FakeRegistry, int],
                              tokens: dict[str, str]) -> None:
    fake, _ = registry
    base = "/api/featurestores/feast-demo/demo"
    resp = await odh_server.fetch(f"{base}/api/v1/entities?project=credit_scoring&allow_cache=1",
                                  user="alice")
    assert resp.status == 200, resp.body
    assert json.loads(resp.body) == {"path": "feast-demo/demo/api/v1/entities",
                                     "query": "project=credit_scoring&allow_cache=1"}
    assert fake.seen[-1][2] == f"Bearer {tokens['alice']}"
    # The registry's own refusal comes back as it was.
    fake.alice_token = "someone-else"
    assert (await odh_server.fetch(f"{base}/api/v1/entities", user="alice")).status == 403
    # GET only.
    for method in ("POST", "DELETE", "PUT"):
        resp = await odh_server.fetch(f"{base}/api/v1/entities", method, user="alice",
                                      body=b"{}" if method != "DELETE" else None)
        assert resp.status == 405, method
    # Names and paths are checked before anything is asked.
    fake.seen.clear()
    for bad in (f"{base}/api/v1/%2e%2e/%2e%2e/secret", f"{base}/api/v1/../../x",
                f"{base}/api/v2/projects", f"{base}/admin",
                "/api/featurestores/Feast_Demo/demo/api/v1/projects",
                "/api/featurestores/feast-demo/De..mo/api/v1/projects"):
        resp = await odh_server.fetch(bad, user="alice")
        assert resp.status in (400, 404), (bad, resp.status)
        if "%2e" in bad or "/api/v2/" in bad or "Feast_Demo" in bad or "De..mo" in bad:
            assert resp.status == 400, bad
    assert fake.seen == []
    # A FeatureStore bob may not read, or that does not exist: 404.
    assert (await odh_server.fetch(f"{base}/api/v1/projects", user="bob")).status == 404
    assert (await odh_server.fetch("/api/featurestores/feast-demo/nope/api/v1/projects",
                                   user="alice")).status == 404


async def test_registry_down(odh_server: Any, registry: tuple[FakeRegistry, int]) -> None:
    """Registry unreachable: discovery skips it (old behaviour), the proxy answers 502 JSON."""
    # Point at a port nothing listens on.
    sock, port = bind_unused_port()
    sock.close()
    plugin = odh_server.app.plugin("dashboard")
    plugin.ctx.config = plugin.config.model_copy(
        update={"feast_registry_url": f"http://127.0.0.1:{port}"})
    resp = await odh_server.fetch("/api/featurestores", user="alice")
    assert resp.json() == {"featureStores": [], "enabledCRDCount": 1}
    resp = await odh_server.fetch("/api/featurestores/feast-demo/demo/api/v1/projects",
                                  user="alice")
    assert resp.status == 502 and "message" in resp.json()


class TestNotInstalled:
    @pytest.fixture
    def odh_config(self, odh_base_config: dict[str, Any], dash_ns: str) -> dict[str, Any]:
        return {**odh_base_config,
                "kubernetes": {**odh_base_config["kubernetes"], "dashboard_namespace": dash_ns},
                "plugins": {"dashboard": {"featurestore_api_version": "v9"}}}

    async def test_kind_not_served(self, odh_server: Any) -> None:
        resp = await odh_server.fetch("/api/featurestores", user="alice")
        assert resp.json() == {"featureStores": [], "enabledCRDCount": 0}
        resp = await odh_server.fetch("/api/featurestores/workbench-integration", user="alice")
        assert resp.json() == {"namespaces": []}
        resp = await odh_server.fetch("/api/featurestores/feast-demo/demo/api/v1/projects",
                                      user="alice")
        assert resp.status == 404 and "message" in resp.json()
