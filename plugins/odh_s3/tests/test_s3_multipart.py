"""MultipartWriter and S3Access against moto's server over HTTP."""
from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest

from odh_s3.access import S3Access, S3NotConfigured
from odh_s3.connection import S3Connection, bypass_proxy
from odh_s3.multipart import (MAX_OBJECT_SIZE, MAX_PARTS, MIN_PART_SIZE, MiB, MultipartWriter,
                              part_size_for, plan_part_size)



def conn_for(sandbox_s3: Any) -> S3Connection:
    return S3Connection(endpoint=sandbox_s3.endpoint, access_key_id=sandbox_s3.access_key,
                        secret_access_key=sandbox_s3.secret_key, region=sandbox_s3.region,
                        default_bucket=sandbox_s3.default_bucket)


def test_part_plan_fits_5_tib_in_10000_parts() -> None:
    size = plan_part_size(MAX_OBJECT_SIZE)
    assert size >= MIN_PART_SIZE and size * MAX_PARTS >= MAX_OBJECT_SIZE
    assert plan_part_size(None) == plan_part_size(100) >= MIN_PART_SIZE
    # unknown size: growing parts still reach 5 TiB within 10,000 parts
    base = plan_part_size(None)
    assert sum(part_size_for(n, base, False) for n in range(1, MAX_PARTS + 1)) >= MAX_OBJECT_SIZE
    assert part_size_for(1, base, False) == base and part_size_for(1001, base, False) == 2 * base


def test_no_proxy_matching() -> None:
    assert bypass_proxy("s3.internal.example", ".example")
    assert bypass_proxy("127.0.0.1", "localhost,127.0.0.1")
    assert not bypass_proxy("s3.amazonaws.com", "example.com")
    c = S3Connection(endpoint="http://127.0.0.1:9", http_proxy="http://p:3128",
                     no_proxy="127.0.0.1")
    assert c.proxies() is None
    assert S3Connection(endpoint="http://s3.x", http_proxy="http://p:3128").proxies() == {
        "http": "http://p:3128"}
    assert "secret" not in repr(S3Connection(secret_access_key="secret"))


async def test_writer_multipart_roundtrip_and_small_put(sandbox_s3: Any, aio_s3: Any,
                                                        key_prefix: str) -> None:
    bucket = sandbox_s3.default_bucket
    data = os.urandom(13 * MiB + 12345)
    w = MultipartWriter(aio_s3, bucket, key_prefix + "big", part_size=5 * MiB,
                        max_in_flight=2, content_type="application/x-test")
    for i in range(0, len(data), 200_000):  # odd chunk size: parts get split mid-chunk
        await w.write(data[i:i + 200_000])
    assert w.bytes_written == len(data)
    result = await w.complete()
    assert result["Parts"] == 3 and result["Size"] == len(data)
    obj = await aio_s3.get_object(Bucket=bucket, Key=key_prefix + "big")
    async with obj["Body"] as body:
        assert await body.read() == data
    assert obj["ContentType"] == "application/x-test"

    small = MultipartWriter(aio_s3, bucket, key_prefix + "small")
    await small.write(b"hello ")
    await small.write(b"world")
    assert (await small.complete())["Parts"] == 0
    obj = await aio_s3.get_object(Bucket=bucket, Key=key_prefix + "small")
    async with obj["Body"] as body:
        assert await body.read() == b"hello world"
    assert small.upload_id is None

    empty = MultipartWriter(aio_s3, bucket, key_prefix + "empty")
    assert (await empty.complete())["Size"] == 0


async def test_writer_abort_leaves_nothing(sandbox_s3: Any, aio_s3: Any,
                                           key_prefix: str) -> None:
    bucket, key = sandbox_s3.default_bucket, key_prefix + "aborted"
    w = MultipartWriter(aio_s3, bucket, key, part_size=5 * MiB)
    await w.write(os.urandom(11 * MiB))
    assert w.upload_id is not None
    assert await w.abort() is True
    assert await w.abort() is True  # idempotent
    uploads = await asyncio.to_thread(sandbox_s3.open_multipart_uploads, bucket)
    assert w.upload_id not in [u["UploadId"] for u in uploads]
    listing = await aio_s3.list_objects_v2(Bucket=bucket, Prefix=key)
    assert listing.get("KeyCount", 0) == 0
    with pytest.raises(RuntimeError):
        await w.write(b"x")


async def test_writer_in_flight_is_bounded(sandbox_s3: Any, aio_s3: Any,
                                           key_prefix: str) -> None:
    """Backpressure: write() waits while max_in_flight parts are uploading."""
    peak = 0

    class Counting:
        def __init__(self, inner: Any):
            self.inner, self.now = inner, 0

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

        async def upload_part(self, **kw: Any) -> Any:
            nonlocal peak
            self.now += 1
            peak = max(peak, self.now)
            try:
                return await self.inner.upload_part(**kw)
            finally:
                self.now -= 1

    w = MultipartWriter(Counting(aio_s3), sandbox_s3.default_bucket, key_prefix + "bounded",
                        part_size=5 * MiB, max_in_flight=2)
    chunk = os.urandom(MiB)
    for _ in range(31):
        await w.write(chunk)
        assert sum(not t.done() for t in w._tasks) <= 2
    await w.complete()
    assert 1 <= peak <= 2


async def test_access_clients_and_per_user_slots(sandbox_s3: Any, key_prefix: str) -> None:
    access = S3Access(S3Connection(), 1, total_transfers=3)
    await access.start()
    try:
        assert not access.configured
        with pytest.raises(S3NotConfigured):
            await access.client()
        await access.apply(conn_for(sandbox_s3))
        assert access.configured and access.pool.opened == 1
        assert access.default_bucket == sandbox_s3.default_bucket
        w = access.multipart_writer(access.default_bucket, key_prefix + "w")
        await w.write(b"abc")
        # a settings change while the writer runs: it keeps its (leased) client
        assert await access.apply(conn_for(sandbox_s3).with_(region="us-east-1",
                                                             default_bucket="other"))
        assert access.pool.opened == 2 and access.default_bucket == "other"
        await access.pool.reap(force=False)
        assert (await w.complete())["Size"] == 3
        client = await access.client()
        head = await client.head_object(Bucket=sandbox_s3.default_bucket, Key=key_prefix + "w")
        assert head["ContentLength"] == 3
        # the same connection again: the pooled client, no new one
        await access.apply(conn_for(sandbox_s3).with_(default_bucket="other"))
        assert access.pool.opened == 2

        order: list[str] = []
        gate = asyncio.Event()

        async def job(user: str, name: str, preferred: int | None = None) -> None:
            async with access.slots.slot(user, preferred):
                order.append(name)
                await gate.wait()

        # admin maximum 1: alice's second transfer waits, bob's runs (slots are per user)
        tasks = [asyncio.create_task(job("alice", "a1")), asyncio.create_task(job("alice", "a2")),
                 asyncio.create_task(job("bob", "b1", preferred=5))]
        for _ in range(20):
            await asyncio.sleep(0)
        assert sorted(order) == ["a1", "b1"] and access.busy
        access.slots.admin_max = 2  # the admin raises the maximum: applies to new waits
        late = asyncio.create_task(job("alice", "a3"))
        for _ in range(20):
            await asyncio.sleep(0)
        # the server-wide cap (3) holds whatever the per-user limits say
        assert len(order) == 3 and access.slots.total.active == 3
        gate.set()
        await asyncio.gather(*tasks, late)
        assert sorted(order) == ["a1", "a2", "a3", "b1"]
        assert access.slots.total.active == 0 and not access.busy
        assert access.slots.limit_for(5) == 2 and access.slots.limit_for(None) == 2
    finally:
        await access.close()
