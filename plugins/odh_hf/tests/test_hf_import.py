"""Imports end to end: sandbox hub -> odh-core (s3 + hf plugins) -> moto, all over HTTP."""
from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest

from odh_sandbox.hub import DEMO_TOKEN
from odh_core.testing import eventually

from hf_testkit import (MULTI, NOBODY_TOKEN, SMALL, MiB, hub_digest, keys_under, object_digest,
                       sse_events, start_job, wait_job)


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _repo_requests(hub: Any, repo: str, since: int = 0) -> list[Any]:
    return [r for r in hub.requests[since:] if repo in r.path or repo in r.query
            or repo.replace("/", "%2F") in r.query]


@pytest.mark.slow
async def test_multi_file_model_lands_byte_exact(odh_server: Any, hf_models: Any, http: Any,
                                                 aio_s3: Any, sandbox_s3: Any,
                                                 prefix: str) -> None:
    bucket = sandbox_s3.default_bucket
    job = await start_job(odh_server, {"repo": MULTI, "bucket": bucket, "prefix": prefix})
    assert job["status"] in ("queued", "running") and job["totals"]["files"] == 4
    final = await wait_job(http, odh_server, job["id"])
    assert final["status"] == "completed", [(f["path"], f["status"], f["error"]) for f in final["files"]]
    assert {f["status"] for f in final["files"]} == {"completed"}
    landed = await keys_under(aio_s3, bucket, prefix)
    paths = ["config.json", "sub/notes.txt", "model-00002.bin", "model.safetensors"]
    assert set(landed) == {f"{prefix}{MULTI}/{p}" for p in paths}
    for p in paths:
        assert await object_digest(aio_s3, bucket, f"{prefix}{MULTI}/{p}") == \
            hub_digest(hf_models, MULTI, p), p
    assert landed[f"{prefix}{MULTI}/model.safetensors"] == 200 * MiB
    assert sandbox_s3.open_multipart_uploads(bucket) == [] or all(
        not u["Key"].startswith(prefix) for u in sandbox_s3.open_multipart_uploads(bucket))


async def test_public_model_without_token_sends_no_authorization(
        odh_server: Any, hf_models: Any, http: Any, aio_s3: Any, sandbox_s3: Any,
        prefix: str) -> None:
    since = len(hf_models.requests)
    # As the stock UI does: the progress stream first, then the import.
    stream = asyncio.create_task(sse_events(http, odh_server,
                                            "/api/objects/import-model-progress"))
    await asyncio.sleep(0.2)
    resp = await odh_server.fetch(
        f"/api/objects/hf-import/{sandbox_s3.default_bucket}/{_b64(prefix)}/"
        f"{_b64('sandbox-org/tiny-model')}", user="alice")
    assert resp.status == 200 and resp.json() == {"message": "Model import started"}
    events = await stream
    last = events[-1][1]
    assert set(last) == {"README.md", "config.json", "tokenizer.json", "model.safetensors"}
    assert all(v["status"] == "completed" and v["loaded"] == v["total"] for v in last.values())
    seen = _repo_requests(hf_models, "sandbox-org/tiny-model", since)
    assert {r.phase for r in seen} >= {"api", "resolve", "cdn"}
    assert not any(r.has_authorization for r in seen)
    landed = await keys_under(aio_s3, sandbox_s3.default_bucket, prefix)
    assert f"{prefix}sandbox-org/tiny-model/model.safetensors" in landed


async def test_gated_model_fails_fast_with_what_to_do(odh_server: Any, hf_models: Any,
                                                      sandbox_s3: Any, prefix: str) -> None:
    since = len(hf_models.requests)
    body = {"repo": "sandbox-org/gated-model", "bucket": sandbox_s3.default_bucket,
            "prefix": prefix}
    resp = await odh_server.fetch("/api/hf/imports", "POST", user="alice", json=body)
    assert resp.status == 401, resp.text
    msg = resp.json()["message"]
    assert "gated" in msg and "token" in msg and "/api/settings/huggingface" in msg
    assert not [r for r in _repo_requests(hf_models, "gated-model", since)
                if r.phase in ("resolve", "cdn")]
    listed = await odh_server.fetch("/api/hf/imports", user="alice")
    assert all(j["repo"] != "sandbox-org/gated-model" for j in listed.json()["data"])

    # A valid token whose account was not granted access: 403 saying how to get access. Alice
    # saves it as her own (she is not in shared_groups: an admin's shared token is not hers).
    # Per-user tokens live in the cluster, which the session shares: cleared at the end.
    try:
        put = await odh_server.fetch("/api/settings/huggingface", "PUT", user="alice",
                                     json={"hfToken": NOBODY_TOKEN})
        assert put.status == 200, put.text
        resp = await odh_server.fetch("/api/hf/imports", "POST", user="alice", json=body)
        assert resp.status == 403 and "request access" in resp.json()["message"]

        # Compat route: the same error in the old shape ({error, message} plus extras).
        resp = await odh_server.fetch(
            f"/api/objects/hf-import/{sandbox_s3.default_bucket}/{_b64(prefix)}/"
            f"{_b64('sandbox-org/gated-model')}", user="alice")
        assert resp.status == 403 and {"error", "message"} <= set(resp.json())

        # The granted demo token works.
        await odh_server.fetch("/api/settings/huggingface", "PUT", user="alice",
                               json={"hfToken": DEMO_TOKEN})
        job = await start_job(odh_server, body)
        assert job["totals"]["files"] == 3
    finally:
        await odh_server.fetch("/api/settings/huggingface", "PUT", user="alice",
                               json={"hfToken": ""})


async def test_cut_download_resumes_with_range_and_verifies(
        odh_server: Any, hf_models: Any, http: Any, aio_s3: Any, sandbox_s3: Any,
        prefix: str) -> None:
    rule = hf_models.faults.drop_after(rf"{SMALL}/a\.safetensors", 1_000_000, times=2,
                                       on="cdn")
    since = len(hf_models.requests)
    job = await start_job(odh_server, {"repo": SMALL, "bucket": sandbox_s3.default_bucket,
                                       "prefix": prefix})
    final = await wait_job(http, odh_server, job["id"])
    assert final["status"] == "completed", [(f["path"], f["status"], f["error"]) for f in final["files"]]
    assert rule.fired == 2
    files = {f["path"]: f for f in final["files"]}
    assert files["a.safetensors"]["attempts"] == 3
    ranges = [r.headers.get("Range") for r in _repo_requests(hf_models, SMALL, since)
              if r.phase == "cdn" and "a.safetensors" in r.query]
    assert ranges == [None, "bytes=1000000-", "bytes=2000000-"]
    key = f"{prefix}{SMALL}/a.safetensors"
    assert await object_digest(aio_s3, sandbox_s3.default_bucket, key) == \
        hub_digest(hf_models, SMALL, "a.safetensors")


async def test_hash_mismatch_fails_that_file_and_leaves_nothing(
        odh_server: Any, hf_models: Any, http: Any, aio_s3: Any, sandbox_s3: Any,
        prefix: str) -> None:
    rule = hf_models.faults.corrupt(rf"{SMALL}/a\.safetensors", at=5_000_000, times=None,
                                    on="cdn")
    job = await start_job(odh_server, {"repo": SMALL, "bucket": sandbox_s3.default_bucket,
                                       "prefix": prefix})
    final = await wait_job(http, odh_server, job["id"])
    assert rule.fired >= 1
    files = {f["path"]: f for f in final["files"]}
    assert final["status"] == "failed"
    assert files["a.safetensors"]["status"] == "failed"
    assert "sha256 mismatch" in files["a.safetensors"]["error"]
    assert files["b.safetensors"]["status"] == files["config.json"]["status"] == "completed"
    landed = await keys_under(aio_s3, sandbox_s3.default_bucket, prefix)
    assert set(landed) == {f"{prefix}{SMALL}/b.safetensors", f"{prefix}{SMALL}/config.json"}
    assert not [u for u in sandbox_s3.open_multipart_uploads() if u["Key"].startswith(prefix)]


async def test_cancel_aborts_open_multipart_uploads(odh_server: Any, hf_models: Any,
                                                    aio_s3: Any, sandbox_s3: Any,
                                                    prefix: str) -> None:
    # Slow enough that the import is mid-file (a multipart upload open) when we cancel.
    hf_models.faults.slow(rf"{MULTI}/model\.safetensors", bytes_per_second=8 * MiB, on="cdn")
    job = await start_job(odh_server, {"repo": MULTI, "bucket": sandbox_s3.default_bucket,
                                       "prefix": prefix, "include": ["*.safetensors"]})
    hf = odh_server.app.plugin("hf")

    def big_loaded() -> int:
        live = hf.jobs.watch.job(job["name"])
        return live.files["model.safetensors"].loaded if live else 0

    await eventually(lambda: big_loaded() >= 12 * MiB, "12 MiB of the big file", timeout=30)

    def open_here() -> list[Any]:
        return [u for u in sandbox_s3.open_multipart_uploads() if u["Key"].startswith(prefix)]

    assert len(await asyncio.to_thread(open_here)) == 1  # the fault really left one open
    resp = await odh_server.fetch(f"/api/hf/imports/{job['id']}", "DELETE", user="alice")
    assert resp.status == 200 and resp.json()["data"]["status"] == "cancelled"
    assert resp.json()["data"]["files"][0]["status"] == "cancelled"
    assert await asyncio.to_thread(open_here) == []
    assert await keys_under(aio_s3, sandbox_s3.default_bucket, prefix) == {}


async def test_rerun_of_a_finished_job_transfers_nothing(odh_server: Any, hf_models: Any,
                                                         http: Any, sandbox_s3: Any,
                                                         prefix: str) -> None:
    body = {"repo": SMALL, "bucket": sandbox_s3.default_bucket, "prefix": prefix}
    first = await wait_job(http, odh_server, (await start_job(odh_server, body))["id"])
    assert first["status"] == "completed"
    since = len(hf_models.requests)
    hf = odh_server.app.plugin("hf")
    moved = hf.stats.bytes_transferred
    second = await wait_job(http, odh_server, (await start_job(odh_server, body))["id"])
    assert second["status"] == "completed"
    assert {f["status"] for f in second["files"]} == {"skipped"}
    assert hf.stats.bytes_transferred == moved
    assert [r.phase for r in _repo_requests(hf_models, SMALL, since)] == ["api"]


async def test_two_jobs_share_the_transfer_limit(odh_server: Any, hf_models: Any, http: Any,
                                                 sandbox_s3: Any, prefix: str) -> None:
    hf = odh_server.app.plugin("hf")
    access = odh_server.app.service("s3.access")
    assert access.transfers.limit == 2
    # Throttled so transfers overlap; the peak is read from the limiter-guarded counter.
    hf_models.faults.slow(SMALL, bytes_per_second=16 * MiB, on="cdn")
    hf.stats.peak_in_flight = 0
    jobs = [await start_job(odh_server, {"repo": SMALL, "bucket": sandbox_s3.default_bucket,
                                         "prefix": f"{prefix}{i}/"}) for i in range(2)]
    finals = await asyncio.gather(*(wait_job(http, odh_server, j["id"]) for j in jobs))
    assert [f["status"] for f in finals] == ["completed", "completed"]
    assert hf.stats.peak_in_flight == 2  # six files wanted to run; two slots
    assert access.transfers.active == 0


async def test_old_progress_stream_ends_when_every_file_fails(
        odh_server: Any, hf_models: Any, http: Any, sandbox_s3: Any, prefix: str) -> None:
    hf_models.faults.error(rf"{SMALL}/", status=403, times=None, on="resolve")
    stream = asyncio.create_task(sse_events(http, odh_server,
                                            "/api/objects/import-model-progress", user="bob"))
    await asyncio.sleep(0.2)
    resp = await odh_server.fetch(
        f"/api/objects/hf-import/{sandbox_s3.default_bucket}/{_b64(prefix)}/{_b64(SMALL)}",
        user="bob")
    assert resp.status == 200
    events = await stream
    last = events[-1][1]
    assert set(last) == {"config.json", "a.safetensors", "b.safetensors"}
    assert all(set(v) == {"error", "message"} for v in last.values())


async def test_jobs_are_visible_to_owner_and_admins_only(odh_server: Any, hf_models: Any,
                                                         http: Any, sandbox_s3: Any,
                                                         prefix: str) -> None:
    job = await start_job(odh_server, {"repo": SMALL, "prefix": prefix,
                                       "include": ["*.json"]})  # default bucket
    assert job["bucket"] == sandbox_s3.default_bucket and job["totals"]["files"] == 1
    await wait_job(http, odh_server, job["id"])
    assert (await odh_server.fetch(f"/api/hf/imports/{job['id']}", user="bob")).status == 404
    assert (await odh_server.fetch(f"/api/hf/imports/{job['id']}", "DELETE",
                                   user="bob")).status == 404
    bob = (await odh_server.fetch("/api/hf/imports", user="bob")).json()["data"]
    assert job["id"] not in [j["id"] for j in bob]
    admin = (await odh_server.fetch("/api/hf/imports", user="admin")).json()["data"]
    assert job["id"] in [j["id"] for j in admin]
    one = (await odh_server.fetch(f"/api/hf/imports/{job['id']}", user="admin")).json()
    assert one["data"]["files"][0]["status"] == "completed"


@pytest.mark.parametrize("body,status", [
    ({"repo": "../etc"}, 400),
    ({"repo": "org/name/extra"}, 400),
    ({"repo": "http://evil.example/x"}, 400),
    ({"repo": SMALL, "revision": "../../x"}, 400),
    ({"repo": SMALL, "prefix": "/abs"}, 400),
    ({"repo": SMALL, "bucket": "Bad_Bucket"}, 400),
    ({"repo": SMALL, "url": "http://evil.example"}, 400),
    ({"repo": "hf-test/does-not-exist"}, 401),  # the hub: unknown or private, no token
    ({"repo": SMALL, "revision": "no-such-branch"}, 404),
])
async def test_bad_requests_are_refused(odh_server: Any, hf_models: Any, body: dict[str, Any],
                                        status: int) -> None:
    resp = await odh_server.fetch("/api/hf/imports", "POST", user="alice", json=body)
    assert resp.status == status, resp.text
    assert resp.json()["success"] is False and resp.json()["message"]
