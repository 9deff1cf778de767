"""Identity and admin against the sandbox API server: the cluster decides, odh-core caches."""
import pytest

from odh_core.config import DevUser


@pytest.fixture
def odh_plugins():
    return ["example"]


@pytest.fixture
def odh_config(odh_base_config):
    return odh_base_config  # the cluster, not tests/core's static identities


def review_calls(sandbox_kube, kind):
    return sum(1 for r in sandbox_kube.requests if r[0] == "POST" and r[1].endswith(kind))


async def test_token_is_validated_by_the_cluster(odh_server):
    resp = await odh_server.fetch("/api/example/hello", user="bob")
    assert resp.json()["data"]["greeting"] == "Hello, bob"


async def test_unknown_token_is_401(odh_server):
    resp = await odh_server.fetch("/api/example/hello", token="not-a-real-token")
    assert resp.status == 401
    assert "rejected" in resp.json()["message"]


async def test_identity_is_cached_per_token(odh_server, sandbox_kube):
    await odh_server.fetch("/api/example/hello", user="alice")
    sandbox_kube.requests.reset()
    for _ in range(5):
        assert (await odh_server.fetch("/api/example/hello", user="alice")).status == 200
    assert review_calls(sandbox_kube, "selfsubjectreviews") == 0


async def test_admin_comes_from_the_access_review(odh_server, sandbox_kube):
    sandbox_kube.requests.reset()
    assert (await odh_server.fetch("/api/plugins", user="alice")).status == 403
    resp = await odh_server.fetch("/api/plugins", user="admin")
    assert resp.status == 200
    names = {p["name"]: p for p in resp.json()["data"]}
    assert names["example"]["enabled"] and names["example"]["routes"] == ["/api/example/hello"]
    assert review_calls(sandbox_kube, "selfsubjectaccessreviews") == 2
    await odh_server.fetch("/api/plugins", user="admin")
    assert review_calls(sandbox_kube, "selfsubjectaccessreviews") == 2  # cached


async def test_api_server_down_is_not_a_401(odh_server, sandbox_kube):
    sandbox_kube.faults.add_error(503, path_regex="selfsubjectreviews", times=1)
    resp = await odh_server.fetch("/api/example/hello", token="fresh-token-never-seen")
    assert resp.status == 502


class TestDevMode:
    @pytest.fixture
    def odh_config(self, odh_base_config, tokens):
        return {**odh_base_config, "auth": {
            "mode": "dev", "dev_user": "alice",
            "dev_users": {"alice": DevUser(username="alice",
                                           token=tokens["alice"]).model_dump(mode="python")}}}

    async def test_tokenless_request_acts_as_dev_user(self, odh_server):
        resp = await odh_server.fetch("/api/example/hello")
        assert resp.json()["data"]["greeting"] == "Hello, alice"
        resp = await odh_server.fetch("/api/example/hello", user="bob")
        assert resp.json()["data"]["greeting"] == "Hello, bob"


async def test_anonymous_route_ignores_a_bad_token(odh_server):
    resp = await odh_server.fetch("/api/health", token="stale-token")
    assert resp.json() == {"health": "ok"}
