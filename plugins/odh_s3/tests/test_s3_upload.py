"""Streaming uploads through the route: byte-exact, progress, disconnects, aborts."""
from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from typing import Any, AsyncIterator

import aiohttp
from odh_core.testing import eventually as wait_for

MiB = 1024 * 1024
BOUNDARY = "----odhtestboundary7MA4YWxkTrZu0gW"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def form_parts(size: int) -> tuple[bytes, bytes]:
    head = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"blob.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n").encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    return head, tail


def pattern(i: int, n: int) -> bytes:
    """Deterministic, non-repeating-looking bytes (cheap to regenerate for the check)."""
    return hashlib.sha256(str(i).encode()).digest() * (n // 32)


async def body_stream(size: int, chunk: int = MiB) -> AsyncIterator[bytes]:
    head, tail = form_parts(size)
    yield head
    for i in range(size // chunk):
        yield pattern(i, chunk)
    yield tail


async def sse_events(odh_server: Any, key: str, user: str, out: list[dict[str, Any]],
                     connected: asyncio.Event) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{odh_server.url}/api/objects/upload-progress/{b64(key)}",
                            headers=odh_server.auth_headers(user),
                            timeout=aiohttp.ClientTimeout(total=60)) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("text/event-stream")
            async for line in resp.content:
                text = line.decode().strip()
                if text.startswith(":"):
                    connected.set()
                elif text.startswith("data: "):
                    out.append(json.loads(text[6:]))


async def test_64_mib_upload_is_byte_exact_with_ordered_progress(
        odh_server: Any, sandbox_s3: Any, aio_s3: Any, key_prefix: str) -> None:
    bucket, key = sandbox_s3.default_bucket, f"{key_prefix}big.bin"
    size = 64 * MiB
    events: list[dict[str, Any]] = []
    connected = asyncio.Event()
    reader = asyncio.create_task(sse_events(odh_server, key, "alice", events, connected))
    await asyncio.wait_for(connected.wait(), 10)
    head, tail = form_parts(size)
    async with aiohttp.ClientSession() as http:
        async with http.post(
                f"{odh_server.url}/api/objects/upload/{bucket}/{b64(key)}",
                data=body_stream(size),
                headers={**odh_server.auth_headers("alice"),
                         "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
                         "Content-Length": str(len(head) + size + len(tail))}) as resp:
            assert resp.status == 200, await resp.text()
            assert (await resp.json())["message"] == "Object uploaded successfully"
    await asyncio.wait_for(reader, 20)  # the stream ends by itself
    assert events[-1] == {"loaded": 0, "status": "completed"}
    loaded = [e["loaded"] for e in events[:-1]]
    assert all(e["status"] == "uploading" for e in events[:-1]) and len(loaded) >= 2
    assert loaded == sorted(loaded) and loaded[-1] == size
    obj = await aio_s3.get_object(Bucket=bucket, Key=key)
    digest = hashlib.sha256()
    async with obj["Body"] as stream:
        got = 0
        while chunk := await stream.read(MiB):
            digest.update(chunk)
            got += len(chunk)
    want = hashlib.sha256()
    for i in range(size // MiB):
        want.update(pattern(i, MiB))
    assert got == size and digest.hexdigest() == want.hexdigest()
    assert not [u for u in await asyncio.to_thread(sandbox_s3.open_multipart_uploads, bucket)
                if u["Key"] == key]
    access = odh_server.app.service("s3.access")
    assert access.transfers.active == 0 and not access.busy


async def test_disconnect_halfway_leaves_no_object_and_no_upload(
        odh_server: Any, sandbox_s3: Any, aio_s3: Any, key_prefix: str) -> None:
    bucket, key = sandbox_s3.default_bucket, f"{key_prefix}half.bin"
    size = 32 * MiB
    head, tail = form_parts(size)
    reader, writer = await asyncio.open_connection("127.0.0.1", odh_server.port)
    path = f"/api/objects/upload/{bucket}/{b64(key)}"
    hdrs = {**odh_server.auth_headers("alice"), "Host": "127.0.0.1",
            "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
            "Content-Length": str(len(head) + size + len(tail))}
    writer.write((f"POST {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items())
                  + "\r\n").encode() + head)
    for i in range(size // MiB // 2):
        writer.write(pattern(i, MiB))
        await writer.drain()
    access = odh_server.app.service("s3.access")

    async def upload_open() -> bool:
        ups = await asyncio.to_thread(sandbox_s3.open_multipart_uploads, bucket)
        return any(u["Key"] == key for u in ups)

    await wait_for(upload_open)  # parts were already going to S3 when the client left
    assert access.busy
    writer.close()
    await writer.wait_closed()

    async def cleaned() -> bool:
        return not await upload_open() and access.transfers.active == 0

    await wait_for(cleaned)
    listing = await aio_s3.list_objects_v2(Bucket=bucket, Prefix=key)
    assert listing.get("KeyCount", 0) == 0
    assert not access.busy


async def test_abort_route_and_bad_requests(odh_server: Any, sandbox_s3: Any, aio_s3: Any,
                                            key_prefix: str) -> None:
    bucket, key = sandbox_s3.default_bucket, f"{key_prefix}abort.bin"
    none = await odh_server.fetch(f"/api/objects/abort-upload/{b64(key)}", user="alice")
    assert none.json() == {"message": "No upload to abort"}
    size = 64 * MiB
    head, tail = form_parts(size)
    sent = asyncio.Event()

    async def slow_body() -> AsyncIterator[bytes]:
        yield head
        for i in range(size // MiB):
            if i == 12:
                sent.set()
            yield pattern(i, MiB)
            if i >= 12:
                await asyncio.sleep(0.05)
        yield tail

    async def upload() -> int:
        async with aiohttp.ClientSession() as http:
            try:
                async with http.post(
                        f"{odh_server.url}/api/objects/upload/{bucket}/{b64(key)}",
                        data=slow_body(),
                        headers={**odh_server.auth_headers("alice"),
                                 "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
                                 "Content-Length": str(len(head) + size + len(tail))}) as r:
                    return r.status
            except aiohttp.ClientError:
                return -1  # the server closed the connection while we were still sending

    task = asyncio.create_task(upload())
    await asyncio.wait_for(sent.wait(), 20)
    # bob cannot abort alice's upload; alice's key-less abort (what the UI calls) does
    assert (await odh_server.fetch("/api/objects/abort-upload", user="bob")).json() == {
        "message": "No upload to abort"}
    assert (await odh_server.fetch("/api/objects/abort-upload", user="alice")).json() == {
        "message": "Upload aborted"}
    status = await asyncio.wait_for(task, 30)
    assert status in (409, -1)

    async def gone() -> bool:
        ups = await asyncio.to_thread(sandbox_s3.open_multipart_uploads, bucket)
        return not any(u["Key"] == key for u in ups)

    await wait_for(gone)
    assert (await aio_s3.list_objects_v2(Bucket=bucket, Prefix=key)).get("KeyCount", 0) == 0

    # no file part -> 400; not multipart -> 400
    async with aiohttp.ClientSession() as http:
        form = aiohttp.FormData(default_to_multipart=True)
        form.add_field("other", "value")
        async with http.post(f"{odh_server.url}/api/objects/upload/{bucket}/{b64(key)}",
                             data=form, headers=odh_server.auth_headers("alice")) as r:
            assert r.status == 400 and "file" in (await r.json())["message"]
    resp = await odh_server.fetch(f"/api/objects/upload/{bucket}/{b64(key)}", "POST",
                                  user="alice", body=b"raw",
                                  headers={"Content-Type": "text/plain"})
    assert resp.status == 400 and "multipart" in resp.json()["message"]
    assert odh_server.app.service("s3.access").transfers.active == 0
