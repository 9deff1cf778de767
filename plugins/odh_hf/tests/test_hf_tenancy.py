"""Issue 19 for imports: an import writes with the caller's own S3 source and hub token.

The seeded dashboard connections (conf/sandbox/85-s3-connections.yaml): alice-project/
alice-models (bucket alice-models) and bob-project/bob-data. An import resolves its
destination with the caller's token when it is requested, so bob can name alice's connection
on every import route and still reach nothing of hers.
"""
from __future__ import annotations

import base64
from typing import Any, AsyncIterator

import pytest

from hf_testkit import SMALL, keys_under, start_job, wait_job
from odh_s3.sandbox_seeds import fill_connections

ALICE = "conn:alice-project/alice-models"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.fixture
def s3_config(s3_config: dict[str, Any]) -> dict[str, Any]:
    # The default: nobody but admins on the shared S3.
    return {k: v for k, v in s3_config.items() if k != "shared_groups"}


@pytest.fixture
async def seeded(odh_server: Any, sandbox_s3: Any, tokens: dict[str, str]
                 ) -> AsyncIterator[Any]:
    # Per-user state (current source, own settings) lives in the session-wide cluster: start
    # without any, and leave none for the tests that follow.
    store = odh_server.app.service("s3.access").user_store
    for user in ("alice", "bob"):
        await store.delete(user)
    await fill_connections(odh_server.app.kube, tokens["admin"], sandbox_s3.endpoint,
                           sandbox_s3.ensure_bucket)
    yield odh_server
    for user in ("alice", "bob"):
        await store.delete(user)


async def test_bob_cannot_import_into_alices_source(seeded: Any, aio_s3: Any,
                                                    prefix: str) -> None:
    body = {"repo": SMALL, "bucket": "alice-models", "prefix": prefix}
    compat = f"/api/objects/hf-import/alice-models/{b64(prefix)}/{b64(SMALL)}"
    for path in (f"/api/hf/imports?source={ALICE}", f"{compat}?source={ALICE}"):
        method = "POST" if path.startswith("/api/hf") else "GET"
        resp = await seeded.fetch(path, method, user="bob",
                                  json=body if method == "POST" else None)
        assert resp.status in (403, 404), (path, resp.status, resp.text)
    # Without a source bob has none (no settings, no shared access): the clear 403.
    resp = await seeded.fetch("/api/hf/imports", "POST", user="bob", json=body)
    assert resp.status == 403 and resp.json()["error"] == "NoS3Source", resp.text
    resp = await seeded.fetch(compat, user="bob")
    assert resp.status == 403, resp.text
    assert await keys_under(aio_s3, "alice-models", prefix) == {}


async def test_alice_imports_into_her_connection_and_bob_cannot_see_the_job(
        seeded: Any, http: Any, aio_s3: Any, prefix: str) -> None:
    chosen = await seeded.fetch("/api/s3/source", "PUT", user="alice", json={"source": ALICE})
    assert chosen.status == 200, chosen.text
    job = await start_job(seeded, {"repo": SMALL, "bucket": "alice-models", "prefix": prefix})
    final = await wait_job(http, seeded, job["id"])
    assert final["status"] == "completed", final
    landed = await keys_under(aio_s3, "alice-models", prefix)
    assert landed and all(k.startswith(f"{prefix}{SMALL}/") for k in landed)
    # Her connection reaches its own bucket only: another bucket is refused up front.
    other = await seeded.fetch("/api/hf/imports", "POST", user="alice",
                               json={"repo": SMALL, "bucket": "bob-data", "prefix": prefix})
    assert other.status == 403, other.text
    assert (await seeded.fetch(f"/api/hf/imports/{job['id']}", user="bob")).status == 404
    listed = (await seeded.fetch("/api/hf/imports", user="bob")).json()["data"]
    assert all(j["id"] != job["id"] for j in listed)
