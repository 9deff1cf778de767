"""Each fault, observed over HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest

from odh_sandbox.hub import SandboxHub

FILE = "model.safetensors"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def _url(hub: SandboxHub) -> str:
    return f"{hub.endpoint}/org/public/resolve/main/{FILE}"


async def test_drop_after_cuts_the_body_once(hub: SandboxHub,
                                             http: aiohttp.ClientSession) -> None:
    rule = hub.faults.drop_after(FILE, 100_000)
    got = bytearray()
    with pytest.raises(aiohttp.ClientPayloadError):
        async with http.get(_url(hub)) as resp:
            assert resp.status == 200
            async for chunk in resp.content.iter_chunked(65536):
                got += chunk
    assert len(got) == 100_000
    assert bytes(got) == hub.file_bytes("org/public", FILE, end=100_000)
    assert rule.fired == 1
    assert [r.dropped for r in hub.requests if r.phase == "cdn"] == [True]
    # resume with Range from the last byte received; the rule is used up
    async with http.get(_url(hub), headers={"Range": f"bytes={len(got)}-"}) as resp:
        assert resp.status == 206
        rest = await resp.read()
    size = hub.file_size("org/public", FILE)
    assert bytes(got) + rest == hub.file_bytes("org/public", FILE)
    assert len(got) + len(rest) == size


async def test_drop_on_direct_file_and_at_zero(hub: SandboxHub,
                                               http: aiohttp.ClientSession) -> None:
    hub.faults.drop_after(r"notes\.txt$", 0, times=2)
    for _ in range(2):
        with pytest.raises(aiohttp.ClientPayloadError):
            async with http.get(f"{hub.endpoint}/org/public/resolve/main/dir/notes.txt") as r:
                await r.read()
    async with http.get(f"{hub.endpoint}/org/public/resolve/main/dir/notes.txt") as resp:
        assert await resp.read() == ("hello " * 100).encode()


async def test_error_fault_counts_and_phases(hub: SandboxHub,
                                             http: aiohttp.ClientSession) -> None:
    rule = hub.faults.error(FILE, 503, times=2, on="cdn")
    async with http.get(_url(hub), allow_redirects=False) as resp:
        assert resp.status == 302  # resolve is not in the rule's phases
    for _ in range(2):
        async with http.get(_url(hub)) as resp:
            assert resp.status == 503
    async with http.get(_url(hub)) as resp:
        assert resp.status == 200
        await resp.read()
    assert rule.fired == 2
    hub.faults.error(r"^/api/models/org/public$", 500)
    async with http.get(f"{hub.endpoint}/api/models/org/public") as resp:
        assert resp.status == 500


async def test_slow_delay_is_observable_and_clear_removes_it(
        hub: SandboxHub, http: aiohttp.ClientSession) -> None:
    # A long delay shows as a client timeout; no timing assertion beyond "did not answer".
    rule = hub.faults.slow("org/public", delay=30, on="api")
    with pytest.raises(asyncio.TimeoutError):
        async with http.get(f"{hub.endpoint}/api/models/org/public",
                            timeout=aiohttp.ClientTimeout(total=0.5)):
            pass
    assert rule.fired == 1
    hub.faults.clear()
    async with http.get(f"{hub.endpoint}/api/models/org/public") as resp:
        assert resp.status == 200


async def test_slow_throughput_caps_the_stream(hub: SandboxHub,
                                               http: aiohttp.ClientSession) -> None:
    # 3 MiB at 100 kB/s takes ~30 s; unthrottled it takes milliseconds. A 1 s client budget
    # therefore ends mid-body, with the bytes so far still exact.
    rule = hub.faults.slow(FILE, bytes_per_second=100_000, on="cdn")
    got = bytearray()
    with pytest.raises(asyncio.TimeoutError):
        async with http.get(_url(hub), timeout=aiohttp.ClientTimeout(total=1)) as resp:
            async for chunk in resp.content.iter_any():
                got += chunk
    assert rule.fired == 1
    assert 0 < len(got) < hub.file_size("org/public", FILE)
    assert bytes(got) == hub.file_bytes("org/public", FILE, end=len(got))
    with pytest.raises(ValueError):
        hub.faults.slow("x")


async def test_corrupt_flips_one_byte_keeps_size(hub: SandboxHub,
                                                 http: aiohttp.ClientSession) -> None:
    rule = hub.faults.corrupt(FILE, at=70_000)
    async with http.get(_url(hub)) as resp:
        assert resp.status == 200
        body = await resp.read()
    good = hub.file_bytes("org/public", FILE)
    assert len(body) == len(good) and body != good
    diff = [i for i in range(len(good)) if body[i] != good[i]]
    assert diff == [70_000] and body[70_000] == good[70_000] ^ 0xFF
    assert rule.fired == 1
    async with http.get(_url(hub)) as resp:  # used up: the next download is intact
        assert await resp.read() == good
