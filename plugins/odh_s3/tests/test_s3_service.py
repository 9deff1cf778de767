"""The published `s3.access` service, as the hf plugin sees it."""
from __future__ import annotations

from typing import Any


async def test_s3_access_is_published(odh_server: Any, sandbox_s3: Any, aio_s3: Any,
                                      key_prefix: str) -> None:
    access = odh_server.app.service("s3.access")
    assert access is not None
    await access.loaded()  # the shared settings load once the server listens
    assert access.configured
    assert access.default_bucket == sandbox_s3.default_bucket
    client = await access.client()
    assert sandbox_s3.default_bucket in [b["Name"] for b in (await client.list_buckets())["Buckets"]]
    async with access.transfers.slot():
        assert access.transfers.busy
        writer = access.multipart_writer(access.default_bucket, key_prefix + "svc",
                                         content_type="text/plain")
        await writer.write(b"from another plugin")
        result = await writer.complete()
    assert result["Key"] == key_prefix + "svc" and writer.bytes_written == 19
    obj = await aio_s3.get_object(Bucket=sandbox_s3.default_bucket, Key=key_prefix + "svc")
    async with obj["Body"] as body:
        assert await body.read() == b"from another plugin"
