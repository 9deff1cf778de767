"""S3 going away mid-upload: a clear error, no partial object, the slot given back."""
from __future__ import annotations

import asyncio
import base64
import json
from typing import Any, AsyncIterator, Iterator

import aiohttp
import pytest


MiB = 1024 * 1024
BOUNDARY = "faultboundary1234"


@pytest.fixture
def own_s3(sandbox_s3: Any) -> Iterator[Any]:
    """An S3 of this test's own, to stop and start (thread mode: objects survive restart)."""
    s3 = type(sandbox_s3)().start()
    try:
        yield s3
    finally:
        s3.stop()


@pytest.fixture
def s3_plugin_config(s3_plugin_config: dict[str, Any], own_s3: Any) -> dict[str, Any]:
    return {**s3_plugin_config, "endpoint": own_s3.endpoint}


async def test_s3_unreachable_mid_upload(odh_server: Any, own_s3: Any,
                                         key_prefix: str) -> None:
    bucket, key = own_s3.default_bucket, f"{key_prefix}fault.bin"
    enc = base64.b64encode(key.encode()).decode()
    size = 48 * MiB
    head = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    stopped = asyncio.Event()

    async def body() -> AsyncIterator[bytes]:
        yield head
        for i in range(size // MiB):
            if i == 16:
                await asyncio.to_thread(own_s3.stop)  # S3 dies with parts in flight
                stopped.set()
            yield bytes([i % 256]) * MiB
        yield tail

    events: list[dict[str, Any]] = []

    async def progress() -> None:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{odh_server.url}/api/objects/upload-progress/{enc}",
                                headers=odh_server.auth_headers("alice")) as resp:
                async for line in resp.content:
                    if line.startswith(b"data: "):
                        events.append(json.loads(line[6:]))

    reader = asyncio.create_task(progress())
    status, answer = None, None
    async with aiohttp.ClientSession() as http:
        try:
            async with http.post(
                    f"{odh_server.url}/api/objects/upload/{bucket}/{enc}", data=body(),
                    headers={**odh_server.auth_headers("alice"),
                             "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
                             "Content-Length": str(len(head) + size + len(tail))}) as resp:
                status, answer = resp.status, await resp.json()
        except aiohttp.ClientError:
            pass  # the server may close while we still send: the SSE stream says why
    assert stopped.is_set()
    await asyncio.wait_for(reader, 30)  # ends by itself, with an error event
    assert events and events[-1]["status"] == "error"
    assert events[-1]["error"] in ("S3Unreachable", "S3Timeout")
    if status is not None:
        assert status in (502, 504) and answer["error"] in ("S3Unreachable", "S3Timeout")
    access = odh_server.app.service("s3.access")
    assert access.transfers.active == 0 and not access.busy
    await asyncio.to_thread(own_s3.start)
    client = own_s3.client()
    listing = await asyncio.to_thread(client.list_objects_v2, Bucket=bucket, Prefix=key)
    assert listing.get("KeyCount", 0) == 0  # no partial object
    # and the server works again once S3 is back
    resp = await odh_server.fetch(f"/api/objects/{bucket}", user="alice")
    assert resp.status == 200
