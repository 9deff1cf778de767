"""Imports across replicas: two real `odh-core serve` processes sharing one sandbox API server,
one moto S3 and one sandbox hub. Jobs are ImportJobs; any replica answers for any job; the
Lease holder runs it; a killed or stopped holder's job is finished by the other replica."""
from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any, AsyncIterator

import aiohttp
import pytest

from odh_sandbox.hub import SizedFile

from hf_testkit import MiB, hub_digest, keys_under, object_digest
from replica_kit import Replica, wait_for

REPO = "hf-test/replicas"
BIG = "weights.safetensors"
BIG_SIZE = 40 * MiB + 123
PART = 5 * MiB
LEASE_S = 3.0


@pytest.fixture(scope="module")
def replicas_model(sandbox_hub: Any) -> Any:
    sandbox_hub.add_model(REPO, {"config.json": b'{"model_type": "replicas"}',
                                 BIG: SizedFile(BIG_SIZE, seed=31)})
    return sandbox_hub


@pytest.fixture
async def pair(odh_base_config: dict[str, Any], s3_config: dict[str, Any],
               hf_config: dict[str, Any], replicas_model: Any, tokens: dict[str, str],
               tmp_path: Path) -> AsyncIterator[list[Replica]]:
    config = {**odh_base_config, "plugin_autoload": False,
              "plugins": {"s3": {**s3_config, "enabled": True},
                          "hf": {**hf_config, "enabled": True, "lease_duration": LEASE_S,
                                 "part_size": PART, "parts_in_flight": 2}}}
    reps = []
    for i in range(2):
        workdir = tmp_path / f"replica-{i}"
        workdir.mkdir()
        reps.append(Replica(config, workdir, tokens))
    await asyncio.gather(*(asyncio.to_thread(r.start) for r in reps))
    try:
        yield reps
    finally:
        for r in reps:
            r.kill()


def open_uploads(sandbox_s3: Any, prefix: str) -> list[Any]:
    return [u for u in sandbox_s3.open_multipart_uploads() if u["Key"].startswith(prefix)]


def holder_of(job: dict[str, Any], reps: list[Replica]) -> Replica | None:
    for r in reps:
        if job.get("holder") and f"-{r.pid}-" in job["holder"]:
            return r
    return None


def big_requests(hub: Any, since: int) -> list[Any]:
    return [r for r in hub.requests[since:] if r.phase == "cdn"
            and r.path.endswith(hub.expected_sha256(REPO, BIG))]


async def start(http: aiohttp.ClientSession, rep: Replica, bucket: str,
                prefix: str) -> dict[str, Any]:
    status, body = await rep.call(http, "POST", "/api/hf/imports",
                                  json={"repo": REPO, "bucket": bucket, "prefix": prefix})
    assert status == 201, body
    return body["data"]


async def running_past(http: aiohttp.ClientSession, rep: Replica, job_id: str,
                       loaded: int) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        job = await rep.job(http, job_id)
        big = {f["path"]: f for f in job["files"]}[BIG]
        return job if job["holder"] and big["loaded"] >= loaded else None
    return await wait_for(check, f"{loaded} bytes of {BIG} in the status", timeout=60)


async def finished(http: aiohttp.ClientSession, rep: Replica, job_id: str,
                   user: str = "alice") -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        job = await rep.job(http, job_id, user)
        return job if job["status"] in ("completed", "failed", "cancelled") else None
    return await wait_for(check, "the job to end", timeout=90, every=0.3)


async def test_followed_live_and_cancelled_from_the_other_replica(
        pair: list[Replica], http: aiohttp.ClientSession, replicas_model: Any,
        sandbox_s3: Any, aio_s3: Any, prefix: str) -> None:
    a, b = pair
    replicas_model.faults.slow(rf"{REPO}/{BIG}", bytes_per_second=4 * MiB, on="cdn")
    job = await start(http, a, sandbox_s3.default_bucket, prefix)
    seen: list[int] = []
    ended: list[dict[str, Any]] = []

    async def follow() -> None:
        async for name, data in b.events(http, f"/api/hf/imports/{job['id']}/events"):
            if name == "end":
                ended.append(data)
                return
            seen.append({f["path"]: f for f in data["files"]}[BIG]["loaded"])

    follower = asyncio.create_task(follow())
    await wait_for(lambda: _true(len([x for x in seen if x > 0]) >= 2),
                   "two live progress events on the other replica", timeout=60)
    assert seen == sorted(seen) and seen[-1] < BIG_SIZE
    assert await asyncio.to_thread(open_uploads, sandbox_s3, prefix)  # mid-file, one open
    status, body = await b.call(http, "DELETE", f"/api/hf/imports/{job['id']}")
    assert status == 200, body
    assert body["data"]["status"] == "cancelled"
    await asyncio.wait_for(follower, 30)
    assert ended and ended[0]["status"] == "cancelled"
    assert await asyncio.to_thread(open_uploads, sandbox_s3, prefix) == []
    assert await keys_under(aio_s3, sandbox_s3.default_bucket, prefix) == {} or \
        set(await keys_under(aio_s3, sandbox_s3.default_bucket, prefix)) == {
            f"{prefix}{REPO}/config.json"}


async def _true(value: bool) -> bool:
    return value


@pytest.mark.parametrize("how", ["sigkill", "sigterm"])
async def test_the_other_replica_finishes_a_job_byte_exact(
        how: str, pair: list[Replica], http: aiohttp.ClientSession, replicas_model: Any,
        sandbox_s3: Any, aio_s3: Any, prefix: str) -> None:
    replicas_model.faults.slow(rf"{REPO}/{BIG}", bytes_per_second=6 * MiB, on="cdn")
    since = len(replicas_model.requests)
    job = await start(http, pair[0], sandbox_s3.default_bucket, prefix)
    live = await running_past(http, pair[0], job["id"], 3 * PART)
    victim = holder_of(live, pair)
    assert victim is not None, live["holder"]
    other = pair[1] if victim is pair[0] else pair[0]
    key = f"{prefix}{REPO}/{BIG}"
    before = len(replicas_model.requests)  # a stopped holder starts no request after this
    if how == "sigkill":
        await asyncio.to_thread(victim.kill)
    else:
        took = await asyncio.to_thread(victim.terminate)
        assert victim.proc is not None and victim.proc.returncode == 0
        assert took < 5 + 5  # within the grace period (server.grace_period + shutdown)
    # What the dead (or stopped) holder left in S3: its completed parts.
    uploads = await asyncio.to_thread(open_uploads, sandbox_s3, prefix)
    assert [u["Key"] for u in uploads] == [key]
    kept = await aio_s3.list_parts(Bucket=sandbox_s3.default_bucket, Key=key,
                                   UploadId=uploads[0]["UploadId"])
    kept_parts = len(kept.get("Parts") or [])
    assert kept_parts >= 2
    final = await finished(http, other, job["id"])
    assert final["status"] == "completed", final
    assert final["takeovers"] >= 1 and holder_of(final, pair) is None
    assert await object_digest(aio_s3, sandbox_s3.default_bucket, key) == \
        hub_digest(replicas_model, REPO, BIG)
    resumed = big_requests(replicas_model, before)
    assert resumed, "the other replica downloaded nothing"
    first = resumed[0].headers.get("Range", "")
    start_at = int(first.removeprefix("bytes=").rstrip("-"))
    # Resumed at the first part S3 did not have: every completed part was kept.
    assert start_at >= kept_parts * PART and start_at % PART == 0
    # At most the unfinished parts were downloaded again: the victim's part being filled and
    # the parts it had in flight (2), nothing it had completed.
    total = sum(r.bytes_sent for r in big_requests(replicas_model, since))
    assert BIG_SIZE <= total <= BIG_SIZE + 3 * PART
    assert await asyncio.to_thread(open_uploads, sandbox_s3, prefix) == []


async def test_odh_tec_progress_stream_waits_for_the_import_it_started(
        pair: list[Replica], http: aiohttp.ClientSession, replicas_model: Any,
        sandbox_s3: Any, prefix: str) -> None:
    """The stock UI opens the stream first and reads `{}` as "all completed" (issue 17)."""
    a, b = pair
    b64 = lambda s: base64.b64encode(s.encode()).decode()  # noqa: E731
    path = f"/api/objects/hf-import/{sandbox_s3.default_bucket}/{b64(prefix + 'old/')}/" \
           f"{b64(REPO)}"
    status, _ = await a.call(http, "GET", path, user="bob")
    assert status == 200
    old = (await a.call(http, "GET", "/api/hf/imports", user="bob"))[1]["data"][0]
    await finished(http, a, old["id"], user="bob")  # bob has a finished import from before
    replicas_model.faults.slow(rf"{REPO}/{BIG}", bytes_per_second=16 * MiB, on="cdn")
    events: list[Any] = []

    async def follow() -> None:
        async for _name, data in b.events(http, "/api/objects/import-model-progress",
                                          user="bob"):
            events.append(data)

    follower = asyncio.create_task(follow())
    await asyncio.sleep(1.5)
    assert events == []  # not `{}`, not the old job: nothing yet
    new = f"/api/objects/hf-import/{sandbox_s3.default_bucket}/{b64(prefix + 'new/')}/" \
          f"{b64(REPO)}"
    assert (await a.call(http, "GET", new, user="bob"))[0] == 200
    await asyncio.wait_for(follower, 60)
    assert events and all(set(e) == {"config.json", BIG} for e in events)
    assert any(e[BIG]["status"] != "completed" for e in events[:-1]) or len(events) == 1
    assert all(v["status"] == "completed" for v in events[-1].values())
    assert events[-1][BIG]["total"] == BIG_SIZE
