"""The pip-installed example plugin (contrib/odh-plugin-example) is found through its entry
point; YAML switches it off and its route is gone."""
import pytest

from odh_core.testing import static_identities

from .conftest import IDENTITIES


@pytest.fixture
def odh_extra_plugins():
    return [static_identities(IDENTITIES)]


class TestInstalled:
    @pytest.fixture
    def odh_config(self, odh_config):
        return {**odh_config, "plugin_autoload": True,
                "plugins": {name: {"enabled": False} for name in (
                    "k8s", "watch", "dashboard", "s3", "hf", "federation", "services")}}

    async def test_entry_point_adds_the_route(self, odh_server):
        assert odh_server.app.plugins["example"].distribution == "odh-plugin-example"
        resp = await odh_server.fetch("/api/example/hello", token="t-alice")
        assert resp.status == 200 and resp.json()["data"]["greeting"] == "Hello, alice"


class TestDisabled:
    @pytest.fixture
    def odh_config(self, odh_config):
        return {**odh_config, "plugin_autoload": True,
                "plugins": {name: {"enabled": False} for name in (
                    "example", "k8s", "watch", "dashboard", "s3", "hf", "federation",
                    "services")}}

    async def test_disabled_in_yaml_means_404(self, odh_server):
        resp = await odh_server.fetch("/api/example/hello", token="t-alice")
        assert resp.status == 404
        assert odh_server.app.plugins["example"].instance is None
