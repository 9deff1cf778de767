"""HF token settings (masked like the S3 secret), the token check, and the plugin's start."""
from __future__ import annotations

import uuid
from typing import Any

import pytest

from odh_sandbox.hub import DEMO_TOKEN

MASK = "********"  # the one mask, as the S3 secret's


@pytest.fixture
async def clean_users(odh_server: Any) -> None:
    """Each user's own settings live in a Secret of the session-wide sandbox cluster: a test
    that saves some starts without any for the seed users."""
    store = odh_server.app.service("s3.access").user_store
    for user in ("admin", "alice", "bob"):
        await store.delete(user)


async def test_shared_token_is_admins_and_a_users_token_is_theirs(
        odh_server: Any, hf_models: Any, clean_users: None) -> None:
    get = await odh_server.fetch("/api/settings/huggingface", user="alice")
    assert get.status == 200 and get.json() == {"settings": {"hfToken": ""}}
    put = await odh_server.fetch("/api/settings/huggingface", "PUT", user="admin",
                                 json={"hfToken": DEMO_TOKEN})
    assert put.status == 200
    assert (await odh_server.fetch("/api/settings/huggingface", user="admin")).json() == {
        "settings": {"hfToken": MASK}}
    # the shared token is not alice's: she sees none, and saving hers leaves it alone
    assert (await odh_server.fetch("/api/settings/huggingface", user="alice")).json() == {
        "settings": {"hfToken": ""}}
    mine = await odh_server.fetch("/api/settings/hf", "PUT", user="alice",
                                  json={"hfToken": "hf_alice_own"})
    assert mine.status == 200
    get = await odh_server.fetch("/api/settings/huggingface", user="alice")
    assert get.json() == {"settings": {"hfToken": MASK}} and "hf_alice_own" not in get.text
    hf = odh_server.app.plugin("hf")
    assert await hf.token_store.get() == DEMO_TOKEN
    tokens = odh_server.app.service("hf.tokens")
    assert await tokens.own("alice") == "hf_alice_own" and await tokens.own("bob") is None
    # the mask in a PUT keeps the stored token (the old mask too)
    for m in (MASK, "••••••••"):
        await odh_server.fetch("/api/settings/huggingface", "PUT", user="admin",
                               json={"hfToken": m})
        await odh_server.fetch("/api/settings/huggingface", "PUT", user="alice",
                               json={"hfToken": m})
    assert await hf.token_store.get() == DEMO_TOKEN
    assert await tokens.own("alice") == "hf_alice_own"
    bad = await odh_server.fetch("/api/settings/huggingface", "PUT", user="admin",
                                 json={"hfToken": 42})
    assert bad.status == 400
    # which token an import of each user gets: own, else shared for admins only
    from odh_core import Identity

    bob = Identity("bob", ("system:authenticated",))
    assert await tokens.for_user(bob, False) is None
    assert await tokens.for_user(Identity("admin"), True) == DEMO_TOKEN
    assert await tokens.for_user(Identity("alice"), False) == "hf_alice_own"
    tokens.shared_groups = ("system:authenticated",)
    assert await tokens.for_user(bob, False) == DEMO_TOKEN


async def test_test_huggingface_never_probes_the_shared_token_for_users(
        odh_server: Any, hf_models: Any, clean_users: None) -> None:
    none = await odh_server.fetch("/api/settings/test-huggingface", "POST", user="alice",
                                  json={})
    assert none.status == 400
    ok = await odh_server.fetch("/api/settings/test-huggingface", "POST", user="alice",
                                json={"hfToken": DEMO_TOKEN})
    assert ok.status == 200
    assert ok.json() == {"message": "Connection successful",
                         "accessTokenDisplayName": "sandbox-demo"}
    bad = await odh_server.fetch("/api/settings/test-huggingface", "POST", user="alice",
                                 json={"hfToken": "hf_wrong"})
    assert bad.status == 401 and {"error", "message"} <= set(bad.json())
    await odh_server.fetch("/api/settings/huggingface", "PUT", user="admin",
                           json={"hfToken": DEMO_TOKEN})
    # with only the shared token set, alice's "test the stored one" has nothing to test
    probe = await odh_server.fetch("/api/settings/test-huggingface", "POST", user="alice",
                                   json={"hfToken": MASK})
    assert probe.status == 400
    stored = await odh_server.fetch("/api/settings/test-huggingface", "POST", user="admin",
                                    json={"hfToken": MASK})
    assert stored.status == 200 and stored.json()["accessTokenDisplayName"] == "sandbox-demo"
    await odh_server.fetch("/api/settings/huggingface", "PUT", user="alice",
                           json={"hfToken": DEMO_TOKEN})
    own = await odh_server.fetch("/api/settings/test-huggingface", "POST", user="alice",
                                 json={"hfToken": MASK})
    assert own.status == 200


class TestKubeStore:
    @pytest.fixture
    def hf_config(self, hf_config: dict[str, Any]) -> dict[str, Any]:
        return {**hf_config, "settings_store": "kube",
                "settings_secret": f"hf-token-{uuid.uuid4().hex[:8]}"}

    async def test_token_persists_in_a_secret(self, odh_server: Any, hf_models: Any,
                                              sandbox_kube: Any, tokens: dict[str, str],
                                              hf_config: dict[str, Any]) -> None:
        put = await odh_server.fetch("/api/settings/huggingface", "PUT", user="admin",
                                     json={"hfToken": DEMO_TOKEN})
        assert put.status == 200, put.text
        secret = await odh_server.app.kube.get(
            f"/api/v1/namespaces/opendatahub/secrets/{hf_config['settings_secret']}",
            token=tokens["admin"])
        assert set(secret["data"]) == {"hfToken"}
        # a second replica (fresh store reading the Secret) sees the same token
        hf = odh_server.app.plugin("hf")
        fresh = type(hf.token_store)(default=None, kube=odh_server.app.kube,
                                     namespace="opendatahub",
                                     secret=hf_config["settings_secret"])
        assert await fresh.get() == DEMO_TOKEN


class TestWithoutS3:
    @pytest.fixture
    def odh_plugins(self) -> list[str]:
        return ["hf"]

    async def test_start_fails_with_a_clear_message(self, odh_config: dict[str, Any]) -> None:
        from odh_core.testing import build_settings, start_server

        with pytest.raises(Exception, match="s3 plugin"):
            await start_server(build_settings(odh_config, ["hf"]))
