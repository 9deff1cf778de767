"""The embedded S3 over HTTP with aiobotocore and boto3."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiobotocore.session import get_session

from odh_sandbox.s3 import SandboxS3

MiB = 1024 * 1024


@pytest.fixture
async def aio(s3: SandboxS3) -> AsyncIterator[Any]:
    async with get_session().create_client("s3", **s3.client_kwargs()) as client:
        yield client


def _key() -> str:
    return f"test/{uuid.uuid4().hex}"


async def test_default_bucket_and_crud_with_aiobotocore(s3: SandboxS3, aio: Any) -> None:
    assert s3.endpoint.startswith("http://127.0.0.1:") and s3.port != 0
    names = [b["Name"] for b in (await aio.list_buckets())["Buckets"]]
    assert s3.default_bucket in names
    bucket = f"b-{uuid.uuid4().hex[:12]}"
    await aio.create_bucket(Bucket=bucket)
    await aio.put_object(Bucket=bucket, Key="dir/a.txt", Body=b"hello")
    listing = await aio.list_objects_v2(Bucket=bucket, Prefix="dir/")
    assert [o["Key"] for o in listing["Contents"]] == ["dir/a.txt"]
    obj = await aio.get_object(Bucket=bucket, Key="dir/a.txt", Range="bytes=1-3")
    async with obj["Body"] as body:
        assert await body.read() == b"ell"
    await aio.delete_object(Bucket=bucket, Key="dir/a.txt")
    await aio.delete_bucket(Bucket=bucket)


async def test_multipart_complete_and_abort_are_visible(s3: SandboxS3, aio: Any) -> None:
    bucket, key = s3.default_bucket, _key()
    parts_data = [os.urandom(5 * MiB), os.urandom(MiB)]
    upload = await aio.create_multipart_upload(Bucket=bucket, Key=key)
    uid = upload["UploadId"]
    assert uid in [u["UploadId"] for u in s3.open_multipart_uploads(bucket)]
    parts = []
    for n, data in enumerate(parts_data, start=1):
        part = await aio.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=n,
                                     Body=data)
        parts.append({"PartNumber": n, "ETag": part["ETag"]})
    await aio.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=uid,
                                        MultipartUpload={"Parts": parts})
    obj = await aio.get_object(Bucket=bucket, Key=key)
    async with obj["Body"] as body:
        assert await body.read() == b"".join(parts_data)

    leaked = await aio.create_multipart_upload(Bucket=bucket, Key=_key())
    open_ids = [u["UploadId"] for u in s3.open_multipart_uploads()]
    assert leaked["UploadId"] in open_ids and uid not in open_ids
    await aio.abort_multipart_upload(Bucket=bucket, Key=leaked["Key"],
                                     UploadId=leaked["UploadId"])
    assert leaked["UploadId"] not in [u["UploadId"] for u in s3.open_multipart_uploads()]


def test_boto3_client_and_idempotent_default_bucket(s3: SandboxS3) -> None:
    client = s3.client()
    key = _key()
    client.put_object(Bucket=s3.default_bucket, Key=key, Body=b"x")
    # a second instance in this process shares moto's backend: creating the same default
    # bucket again must not fail, and it sees the same objects
    with SandboxS3() as other:
        assert other.port != s3.port
        got = other.client().get_object(Bucket=s3.default_bucket, Key=key)["Body"].read()
        assert got == b"x"


def test_restart_keeps_the_port_and_serves_again() -> None:
    server = SandboxS3(default_bucket=f"restart-{uuid.uuid4().hex[:8]}").start()
    try:
        port = server.port
        server.client().put_object(Bucket=server.default_bucket, Key="k", Body=b"v")
        server.stop()
        assert not server.running
        with pytest.raises(ConnectionRefusedError):  # the port is really released
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
        server.start()
        assert server.port == port
        # thread mode: state lives in moto's in-process backend and survives
        assert server.client().get_object(Bucket=server.default_bucket,
                                          Key="k")["Body"].read() == b"v"
        server.restart()
        assert server.port == port
        assert s3_keys(server) == ["k"]
    finally:
        server.stop()


def s3_keys(server: SandboxS3) -> list[str]:
    listing = server.client().list_objects_v2(Bucket=server.default_bucket)
    return [o["Key"] for o in listing.get("Contents", [])]


@pytest.mark.slow
async def test_process_mode_is_isolated_and_restart_loses_state() -> None:
    server = SandboxS3(mode="process").start()
    try:
        port = server.port
        session = get_session()
        async with session.create_client("s3", **server.client_kwargs()) as aio:
            await aio.put_object(Bucket=server.default_bucket, Key="k", Body=b"v")
        assert s3_keys(server) == ["k"]
        server.restart()
        assert server.port == port
        # a fresh process: the default bucket is back, the object is gone
        assert s3_keys(server) == []
    finally:
        server.stop()
