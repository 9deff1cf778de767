"""Fixtures for the s3 plugin's tests: the app wired to the session's moto server."""
from __future__ import annotations

import uuid
from typing import Any, AsyncIterator

import pytest
from aiobotocore.session import AioSession


@pytest.fixture
def odh_plugins() -> list[str]:
    return ["s3"]


@pytest.fixture
def s3_plugin_config(sandbox_s3: Any, tmp_path: Any) -> dict[str, Any]:
    return {"endpoint": sandbox_s3.endpoint, "access_key_id": sandbox_s3.access_key,
            "secret_access_key": sandbox_s3.secret_key, "region": sandbox_s3.region,
            "default_bucket": sandbox_s3.default_bucket, "state_dir": str(tmp_path),
            # unique per test: the sandbox cluster is shared by the whole session
            "settings_secret": f"s3-creds-{uuid.uuid4().hex[:8]}",
            "settings_configmap": f"s3-settings-{uuid.uuid4().hex[:8]}",
            "http_proxy": "", "https_proxy": "", "no_proxy": "",
            # These tests exercise the routes on the shared S3 as any user; tenancy tests
            # (test_s3_tenancy.py) override this with the default: admins only.
            "shared_groups": ["system:authenticated"]}


@pytest.fixture
def odh_config(odh_base_config: dict[str, Any], s3_plugin_config: dict[str, Any]
               ) -> dict[str, Any]:
    return {**odh_base_config, "plugins": {"s3": s3_plugin_config}}


@pytest.fixture
async def aio_s3(sandbox_s3: Any) -> AsyncIterator[Any]:
    """A plain aiobotocore client on the moto server (to check what landed)."""
    async with AioSession().create_client("s3", **sandbox_s3.client_kwargs()) as client:
        yield client


@pytest.fixture
def key_prefix() -> str:
    return f"t-{uuid.uuid4().hex[:10]}/"


@pytest.fixture
def seed_objects(sandbox_s3: Any) -> Any:
    """Put many small objects fast: straight into the thread-mode moto backend of this process.

    Only test setup takes this shortcut (2,500 PUTs over HTTP cost ~20 s of CPU); every route
    under test still talks to moto over HTTP through aiobotocore.
    """
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    assert sandbox_s3.mode == "thread"

    def seed(bucket: str, keys: list[str], body: bytes = b"x") -> None:
        backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
        for key in keys:
            backend.put_object(bucket, key, body)

    return seed


@pytest.fixture
async def clean_users(odh_server: Any) -> AsyncIterator[None]:
    """Each user's own settings live in a Secret of the session-wide sandbox cluster: a test
    that saves some starts without any for the seed users, and leaves none behind."""
    store = odh_server.app.service("s3.access").user_store
    for user in ("admin", "alice", "bob"):
        await store.delete(user)
    yield
    for user in ("admin", "alice", "bob"):
        await store.delete(user)
