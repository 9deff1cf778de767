"""Federation resilience and configuration: breaker, retries, reload without restart, refusals."""
import json
import os

import pytest

from odh_core import Plugin, BaseHandler, Route, hookimpl
from odh_core.testing import build_settings, start_server, static_identities
from odh_core.testing import eventually as poll


class TestBreaker:
    @pytest.fixture
    def odh_config(self, raw_upstream, no_cluster):
        return no_cluster({
            "read_timeout": 0.3, "retries": 0, "failure_threshold": 2, "reset_timeout": 0.5,
            "modules": [{"name": "m", "backend": {"service": {"url": raw_upstream.url}},
                         "proxyService": [{"path": "/m/api", "service": {
                             "url": raw_upstream.url}}]}]})

    async def test_breaker_opens_answers_503_at_once_then_closes(self, odh_server, raw_upstream):
        raw_upstream.mode = "hang"
        for _ in range(2):  # each waits for the read timeout
            resp = await odh_server.fetch("/m/api/x", token="t-alice")
            assert resp.status == 504
        seen = raw_upstream.connections
        for _ in range(3):  # open: no upstream call, no timeout to wait for
            resp = await odh_server.fetch("/m/api/x", token="t-alice")
            assert resp.status == 503 and "circuit open" in resp.json()["message"]
        assert raw_upstream.connections == seen
        mods = (await odh_server.fetch("/api/federation/modules", token="t-alice")).json()["data"]
        assert mods[0]["healthy"] is False and mods[0]["breakers"]["m/m/api"] == "open"
        metrics = (await odh_server.fetch("/metrics")).text
        assert 'odh_federation_upstream_breaker_state{target="m/m/api"} 2.0' in metrics
        assert 'odh_federation_upstream_errors_total{kind="timeout",target="m/m/api"} 2.0' \
            in metrics
        # upstream back: after reset_timeout a probe goes through and closes the breaker
        raw_upstream.mode = "ok"

        async def answered():
            r = await odh_server.fetch("/m/api/x", token="t-alice")
            return r.status == 200

        await poll(answered)
        mods = (await odh_server.fetch("/api/federation/modules", token="t-alice")).json()["data"]
        assert mods[0]["breakers"]["m/m/api"] == "closed"

    async def test_asset_server_down_is_503_and_readyz_degraded(self, odh_server, raw_upstream):
        raw_upstream.mode = "reset"
        resp = await odh_server.fetch("/_mf/m/remoteEntry.js", token="t-alice")
        assert resp.status == 503
        body = resp.json()
        assert body["error"] == "Service Unavailable" and "'m'" in body["message"]
        ready = await odh_server.fetch("/readyz")
        assert ready.status == 200 and ready.json()["status"] == "degraded"
        check = [c for c in ready.json()["checks"] if c["plugin"] == "federation"][0]
        assert check["ok"] is False and "m:" in check["error"]


class TestRetries:
    @pytest.fixture
    def odh_config(self, raw_upstream, no_cluster):
        return no_cluster({"retries": 3, "retry_backoff": 0.001, "modules": [
            {"name": "m", "proxyService": [{"path": "/m/api", "service": {
                "url": raw_upstream.url}}]}]})

    async def test_get_retried_on_reset_post_not(self, odh_server, raw_upstream):
        raw_upstream.resets_left = 2  # aiohttp retries once itself; ours covers the rest
        resp = await odh_server.fetch("/m/api/x", token="t-alice")
        assert resp.status == 200 and resp.body == b"3"
        raw_upstream.connections, raw_upstream.resets_left = 0, 1
        resp = await odh_server.fetch("/m/api/x", "POST", token="t-alice", body=b"")
        assert resp.status == 502 and raw_upstream.connections == 1
        raw_upstream.connections, raw_upstream.resets_left = 0, 1
        resp = await odh_server.fetch("/m/api/x", "PUT", token="t-alice", body=b"data")
        assert resp.status == 502 and raw_upstream.connections == 1  # a body: never again


class TestReload:
    @pytest.fixture
    def config_dir(self, tmp_path, bff):
        """A ConfigMap-like mount: modules.json -> ..data/modules.json, ..data -> a version."""
        v1 = tmp_path / "..v1"
        v1.mkdir()
        (v1 / "modules.json").write_text(json.dumps([
            {"name": "one", "backend": {"service": {"url": bff.url}}}]))
        os.symlink("..v1", tmp_path / "..data")
        os.symlink("..data/modules.json", tmp_path / "modules.json")
        return tmp_path

    @pytest.fixture
    def odh_config(self, config_dir, no_cluster):
        return no_cluster({"config_file": str(config_dir / "modules.json"),
                           "reload_interval": 0.05, "proxy_prefixes": ["/two"]})

    async def test_editing_the_file_adds_a_module_without_restart(self, odh_server, config_dir,
                                                                  bff):
        assert (await odh_server.fetch("/_mf/one/remoteEntry.js", token="t-alice")).status == 200
        assert (await odh_server.fetch("/_mf/two/remoteEntry.js", token="t-alice")).status == 404
        v2 = config_dir / "..v2"
        v2.mkdir()
        (v2 / "modules.json").write_text(json.dumps([
            {"name": "one", "backend": {"service": {"url": bff.url}}},
            {"name": "two", "backend": {"service": {"url": bff.url}},
             "proxyService": [{"path": "/two/api", "pathRewrite": "/x",
                               "service": {"url": bff.url}}]}]))
        os.symlink("..v2", config_dir / "..data_tmp")
        os.replace(config_dir / "..data_tmp", config_dir / "..data")  # the kubelet's swap

        async def two_served():
            r = await odh_server.fetch("/_mf/two/remoteEntry.js", token="t-alice")
            return r.status == 200

        await poll(two_served)
        resp = await odh_server.fetch("/two/api/y", token="t-alice")
        assert resp.status == 200 and resp.json()["path"] == "/x/y"
        listing = odh_server.app.service("federation.modules")()
        assert [m["name"] for m in listing] == ["one", "two"]
        # a broken version keeps the previous table and says why
        (v2 / "modules.json").write_text("[{\"name\": \"one\"}, {\"name\": \"one\"}]")
        plugin = odh_server.app.plugin("federation")

        async def error_seen():
            return plugin.table.last_error

        assert "'one'" in await poll(error_seen)
        assert (await odh_server.fetch("/_mf/two/remoteEntry.js", token="t-alice")).status == 200


# -- refusals at start --------------------------------------------------------------------------
class Toy(BaseHandler):
    def get(self) -> None:
        self.ok("toy")


class ToyPlugin(Plugin):
    @hookimpl
    def register_routes(self):
        return [Route(r"/api/toy/things/([^/]+)", Toy)]


def _settings(modules, env=None):
    cfg = {"sandbox": {"mode": "off"}, "plugins": {"federation": {
        "modules": modules, "env_config": env, "ca_file": None}}}
    return cfg


@pytest.mark.parametrize("modules,env,needle", [
    ([{"name": "a", "service": {"url": "http://x:1"}}, {"name": "a", "service": {
        "url": "http://x:2"}}], None, "module 'a' is defined twice"),
    ([{"name": "k", "proxyService": [{"path": "/api/k8s/foo", "service": {"url": "http://x:1"}}]}],
     None, "module 'k': proxy path /api/k8s/foo would shadow the route /api/k8s"),
    ([{"name": "s", "proxyService": [{"path": "/api/status", "service": {"url": "http://x:1"}}]}],
     None, "module 's'"),
    ([{"name": "p", "proxyService": [{"path": "/p/api", "service": {"url": "http://x:1"}}]},
      {"name": "q", "proxyService": [{"path": "/p/api/v2", "service": {"url": "http://x:1"}}]}],
     None, "module 'q': proxy path /p/api/v2 conflicts with /p/api of module 'p'"),
    ([{"name": "bad", "proxyService": [{"path": "rel/path", "service": {"url": "http://x:1"}}]}],
     None, "module 'bad'"),
    ([{"name": "nosvc", "proxyService": [{"path": "/n"}]}], None, "module 'nosvc'"),
    ([], "[{\"name\": \"e\", \"remoteEntry\": \"/r.js\", \"service\": {\"name\": \"e\", "
         "\"port\": \"http\"}}]", "module 'e' (MODULE_FEDERATION_CONFIG)"),
    ([], "{not json", "MODULE_FEDERATION_CONFIG is not valid JSON"),
])
async def test_invalid_config_refused_at_start(modules, env, needle):
    settings = build_settings(_settings(modules, env), ["federation"])
    with pytest.raises(Exception) as err:
        server = await start_server(settings)
        await server.close()
    assert needle in str(err.value)


async def test_path_of_another_plugin_refused_at_start():
    extra = [("toy", ToyPlugin)]
    settings = build_settings(_settings([{"name": "t", "proxyService": [
        {"path": "/api/toy", "service": {"url": "http://x:1"}}]}]), ["federation"], extra)
    with pytest.raises(Exception) as err:
        server = await start_server(settings, extra)
        await server.close()
    assert "module 't': proxy path /api/toy conflicts with the route" in str(err.value)


async def test_env_flat_schema_and_service_template(monkeypatch):
    monkeypatch.setenv("MODULE_FEDERATION_CONFIG", json.dumps([
        {"name": "modelRegistry", "remoteEntry": "/remoteEntry.js", "tls": True,
         "proxy": [{"path": "/model-registry/api/v1", "pathRewrite": "/api/v1"}],
         "service": {"name": "odh-dashboard", "port": 8043}}]))
    settings = build_settings({"sandbox": {"mode": "off"},
                               "plugins": {"federation": {"ca_file": None}}}, ["federation"],
                              [static_identities({})])
    server = await start_server(settings, [static_identities({})])
    try:
        plugin = server.app.plugin("federation")
        target = plugin.registry.get("modelRegistry/assets")
        assert target.base_url == "https://odh-dashboard.opendatahub.svc.cluster.local:8043"
        assert [p for p, _ in ((r.pattern, 0) for _, r in server.app.routes)
                if "model" in p] == [r"/model\-registry(?:/.*)?"]
        assert server.app.service("federation.modules")() == [
            {"name": "modelRegistry", "remoteEntry": "/remoteEntry.js"}]
    finally:
        await server.close()


@pytest.mark.parametrize("app_env,use_local", [("development", True), ("production", False)])
async def test_app_env_development_alone_uses_local_service(monkeypatch, app_env, use_local):
    # The Node backend's development mode proxied to each module's localService; APP_ENV alone
    # must do that here too (no plugins.federation.use_local needed).
    monkeypatch.setenv("APP_ENV", app_env)
    monkeypatch.setenv("MODULE_FEDERATION_CONFIG", json.dumps([
        {"name": "modelRegistry", "backend": {
            "remoteEntry": "/remoteEntry.js", "service": {"name": "odh-dashboard", "port": 8043},
            "localService": {"host": "127.0.0.1", "port": 9102}}}]))
    settings = build_settings({"sandbox": {"mode": "off"},
                               "plugins": {"federation": {"ca_file": None}}}, ["federation"],
                              [static_identities({})])
    server = await start_server(settings, [static_identities({})])
    try:
        target = server.app.plugin("federation").registry.get("modelRegistry/assets")
        assert target.base_url == ("http://127.0.0.1:9102" if use_local else
                                   "http://odh-dashboard.opendatahub.svc.cluster.local:8043")
    finally:
        await server.close()
