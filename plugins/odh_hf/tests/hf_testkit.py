"""Helpers shared by the hf plugin's tests (imported by name: test dirs are not packages)."""
from __future__ import annotations

import hashlib
import json
from typing import Any, AsyncIterator

import aiohttp

MiB = 1024 * 1024
MULTI = "hf-test/multi"
SMALL = "hf-test/small"
NOBODY_TOKEN = "hf_nobody_token"  # a valid hub token whose user was granted nothing


async def parse_sse(content: aiohttp.StreamReader) -> AsyncIterator[tuple[str | None, Any]]:
    """(event name, JSON data) of each event of an SSE body, as they arrive."""
    name, data = None, []
    async for raw in content:
        line = raw.decode().rstrip("\n")
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            data.append(line[6:])
        elif line == "" and data:
            yield name, json.loads("\n".join(data))
            name, data = None, []


async def sse_events(http: aiohttp.ClientSession, server: Any, path: str,
                     user: str = "alice") -> list[tuple[str | None, Any]]:
    """Read a whole SSE stream (it must end by itself): [(event name, data)]."""
    headers = server.auth_headers(user)
    timeout = aiohttp.ClientTimeout(total=45)
    async with http.get(server.url + path, headers=headers, timeout=timeout) as resp:
        assert resp.status == 200, await resp.text()
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        return [event async for event in parse_sse(resp.content)]


async def wait_job(http: aiohttp.ClientSession, server: Any, job_id: str,
                   user: str = "alice") -> dict[str, Any]:
    """Follow the job's event stream to its end; returns the final job."""
    events = await sse_events(http, server, f"/api/hf/imports/{job_id}/events", user)
    assert events and events[-1][0] == "end"
    return events[-1][1]


async def start_job(server: Any, body: dict[str, Any], user: str = "alice") -> dict[str, Any]:
    resp = await server.fetch("/api/hf/imports", "POST", user=user, json=body)
    assert resp.status == 201, resp.text
    return resp.json()["data"]


async def object_digest(aio_s3: Any, bucket: str, key: str) -> tuple[int, str]:
    """(size, sha256) of an object, streamed (bounded memory)."""
    obj = await aio_s3.get_object(Bucket=bucket, Key=key)
    digest, size = hashlib.sha256(), 0
    async with obj["Body"] as body:
        while chunk := await body.read(MiB):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def hub_digest(hub: Any, repo: str, path: str) -> tuple[int, str]:
    """(size, sha256) of the hub's true bytes, computed here, not taken from the hub's API."""
    digest, size = hashlib.sha256(), 0
    for chunk in hub.file_bytes_iter(repo, path):
        digest.update(chunk)
        size += len(chunk)
    return size, digest.hexdigest()


async def keys_under(aio_s3: Any, bucket: str, prefix: str) -> dict[str, int]:
    out: dict[str, int] = {}
    paginator = aio_s3.get_paginator("list_objects_v2")
    async for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for o in page.get("Contents", []):
            out[o["Key"]] = o["Size"]
    return out
