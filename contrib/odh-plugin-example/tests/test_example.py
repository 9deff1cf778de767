"""The example plugin, tested the way a package team would: with odh-core's test kit."""
import pytest

from odh_core import Identity
from odh_core.testing import static_identities


@pytest.fixture
def odh_plugins():
    return ["example"]


async def test_hello_greets_the_sandbox_user(odh_server):
    resp = await odh_server.fetch("/api/example/hello", user="alice")
    assert resp.status == 200
    assert resp.json()["data"]["greeting"] == "Hello, alice"


async def test_hello_denies_without_identity(odh_server):
    resp = await odh_server.fetch("/api/example/hello")
    assert resp.status == 401
    assert resp.json()["success"] is False


class TestConfigured:
    @pytest.fixture
    def odh_config(self, odh_base_config):
        return {**odh_base_config, "plugins": {"example": {"greeting": "Hej"}}}

    @pytest.fixture
    def odh_extra_plugins(self):
        return [static_identities({"t-carol": Identity("carol", ("team",))})]

    async def test_greeting_comes_from_config(self, odh_server):
        resp = await odh_server.fetch("/api/example/hello", token="t-carol")
        assert resp.json()["data"] == {"greeting": "Hej, carol", "groups": ["team"]}
