"""HF token settings (masked like the S3 secret), the token check, and the plugin's start."""
from __future__ import annotations

import uuid
from typing import Any

import pytest

from odh_sandbox.hub import DEMO_TOKEN

MASK = "••••••••"


async def test_token_is_masked_admin_only_and_mask_means_unchanged(
        odh_server: Any, hf_models: Any) -> None:
    get = await odh_server.fetch("/api/settings/huggingface", user="alice")
    assert get.status == 200 and get.json() == {"settings": {"hfToken": ""}}
    denied = await odh_server.fetch("/api/settings/huggingface", "PUT", user="alice",
                                    json={"hfToken": DEMO_TOKEN})
    assert denied.status == 403
    put = await odh_server.fetch("/api/settings/huggingface", "PUT", user="admin",
                                 json={"hfToken": DEMO_TOKEN})
    assert put.status == 200
    get = await odh_server.fetch("/api/settings/huggingface", user="alice")
    assert get.json() == {"settings": {"hfToken": MASK}}
    assert DEMO_TOKEN not in get.text
    # the mask in a PUT keeps the stored token
    await odh_server.fetch("/api/settings/huggingface", "PUT", user="admin",
                           json={"hfToken": MASK})
    hf = odh_server.app.plugin("hf")
    assert await hf.token_store.get() == DEMO_TOKEN
    bad = await odh_server.fetch("/api/settings/huggingface", "PUT", user="admin",
                                 json={"hfToken": 42})
    assert bad.status == 400


async def test_test_huggingface_uses_given_or_stored_token(odh_server: Any,
                                                           hf_models: Any) -> None:
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
    stored = await odh_server.fetch("/api/settings/test-huggingface", "POST", user="alice",
                                    json={"hfToken": MASK})
    assert stored.status == 200 and stored.json()["accessTokenDisplayName"] == "sandbox-demo"


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


async def test_shutdown_aborts_running_imports_while_s3_is_up(
        odh_config: dict[str, Any], hf_models: Any, sandbox_s3: Any) -> None:
    from odh_core.testing import build_settings, start_server

    prefix = f"hf-{uuid.uuid4().hex[:10]}/"
    hf_models.faults.slow(r"hf-test/multi/model\.safetensors", bytes_per_second=8 * 2**20,
                          on="cdn")
    server = await start_server(build_settings(odh_config, ["s3", "hf"]))
    hf = server.app.plugin("hf")
    order = [i.plugin_name for i in server.app.pm.hook.startup.get_hookimpls()]
    assert order.index("hf") > order.index("s3")
    from odh_hf.jobs import ImportRequest

    job = await hf.jobs.start(ImportRequest(repo="hf-test/multi", revision="main",
                                            bucket=sandbox_s3.default_bucket, prefix=prefix,
                                            include=["*.safetensors"]), "alice")
    big = job.files["model.safetensors"]
    while big.loaded < 12 * 2**20:
        await job.wait_change(job.version, 5)
    await server.close()
    assert job.status == "cancelled"
    assert not [u for u in sandbox_s3.open_multipart_uploads() if u["Key"].startswith(prefix)]
