"""Fixtures for the hf plugin: the app with s3 + hf, the session's moto server and hub."""
from __future__ import annotations

import uuid
from typing import Any, AsyncIterator, Iterator

import aiohttp
import pytest
from aiobotocore.session import AioSession

from odh_sandbox.hub import SizedFile

from hf_testkit import MULTI, NOBODY_TOKEN, SMALL, MiB


@pytest.fixture(scope="session")
def hf_models(sandbox_hub: Any) -> Any:
    """Test models on the session hub (added once; hashing 200 MiB takes about a second)."""
    sandbox_hub.add_token(NOBODY_TOKEN, "nobody")
    sandbox_hub.add_model(MULTI, {
        "config.json": b'{"model_type": "test"}',
        "sub/notes.txt": "notes " * 1000,
        "model-00002.bin": SizedFile(12 * MiB + 17, seed=12),
        "model.safetensors": SizedFile(200 * MiB, seed=11),
    })
    sandbox_hub.add_model(SMALL, {
        "config.json": b'{"model_type": "small"}',
        "a.safetensors": SizedFile(6 * MiB + 5, seed=21),
        "b.safetensors": SizedFile(3 * MiB, seed=22),
    })
    return sandbox_hub


@pytest.fixture(autouse=True)
def _clean_hub(request: pytest.FixtureRequest) -> Iterator[None]:
    if "sandbox_hub" not in request.fixturenames:
        yield
        return
    hub = request.getfixturevalue("sandbox_hub")
    hub.faults.clear()
    yield
    hub.faults.clear()


@pytest.fixture
def odh_plugins() -> list[str]:
    return ["s3", "hf"]


@pytest.fixture
def s3_config(sandbox_s3: Any, tmp_path: Any) -> dict[str, Any]:
    return {"endpoint": sandbox_s3.endpoint, "access_key_id": sandbox_s3.access_key,
            "secret_access_key": sandbox_s3.secret_key, "region": sandbox_s3.region,
            "default_bucket": sandbox_s3.default_bucket, "state_dir": str(tmp_path),
            "http_proxy": "", "https_proxy": "", "no_proxy": "", "part_size": 5 * MiB,
            "max_concurrent_transfers": 2,
            # These tests are about imports: every seed user writes to the shared S3 (who may
            # reach which source is odh_s3's test_s3_tenancy and test_hf_tenancy here).
            "shared_groups": ["system:authenticated"]}


@pytest.fixture
def hf_config(hf_models: Any, tmp_path: Any) -> dict[str, Any]:
    return {"endpoint": hf_models.endpoint, "token": None, "settings_store": "file",
            "state_dir": str(tmp_path), "backoff": 0.01, "retries": 3, "http_proxy": "",
            "https_proxy": "", "no_proxy": "", "ca_bundle": None}


@pytest.fixture
def odh_config(odh_base_config: dict[str, Any], s3_config: dict[str, Any],
               hf_config: dict[str, Any]) -> dict[str, Any]:
    return {**odh_base_config, "plugins": {"s3": s3_config, "hf": hf_config}}


@pytest.fixture
async def aio_s3(sandbox_s3: Any) -> AsyncIterator[Any]:
    async with AioSession().create_client("s3", **sandbox_s3.client_kwargs()) as client:
        yield client


@pytest.fixture
def prefix() -> str:
    return f"hf-{uuid.uuid4().hex[:10]}/"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


