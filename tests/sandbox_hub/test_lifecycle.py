"""A hub on the test's own loop, and the demo seed."""

from __future__ import annotations

import aiohttp
import pytest

from odh_sandbox.hub import DEMO_TOKEN, SandboxHub, SizedFile, seed_demo


async def test_start_stop_on_current_loop_and_demo_seed() -> None:
    hub = SandboxHub()
    seed_demo(hub)
    await hub.start()
    try:
        assert hub.port != 0
        auth = {"Authorization": f"Bearer {DEMO_TOKEN}"}
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{hub.endpoint}/api/models/sandbox-org/tiny-model",
                                params={"blobs": "true"}) as resp:
                names = {s["rfilename"] for s in (await resp.json())["siblings"]}
            assert {"config.json", "tokenizer.json", "model.safetensors"} <= names
            async with http.get(f"{hub.endpoint}/api/whoami-v2", headers=auth) as resp:
                assert (await resp.json())["auth"]["accessToken"]["displayName"]
            url = f"{hub.endpoint}/sandbox-org/gated-model/resolve/main/config.json"
            async with http.get(url) as resp:
                assert resp.status == 401
            async with http.get(url, headers=auth) as resp:
                assert resp.status == 200
            async with http.get(f"{hub.endpoint}/nothing/here") as resp:
                assert resp.status == 404
    finally:
        await hub.stop()
    with pytest.raises(aiohttp.ClientConnectionError):
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{hub.endpoint}/api/whoami-v2"):
                pass


async def test_stop_cuts_a_stalled_download() -> None:
    hub = SandboxHub()
    hub.add_model("o/m", {"w.bin": SizedFile(size=4 << 20, seed=5)})
    await hub.start()
    hub.faults.slow("w.bin", bytes_per_second=10_000, on="cdn")
    async with aiohttp.ClientSession() as http:
        resp = await http.get(f"{hub.endpoint}/o/m/resolve/main/w.bin")
        async with resp:
            assert resp.status == 200
            await resp.content.readexactly(1000)
            await hub.stop()  # must not wait for the throttled body
            with pytest.raises(aiohttp.ClientPayloadError):
                await resp.read()


def test_add_model_validation_and_revisions() -> None:
    hub = SandboxHub()
    with pytest.raises(ValueError):
        hub.add_model("no-namespace", {})
    main = hub.add_model("o/m", {"a.txt": b"1"})
    v2 = hub.add_model("o/m", {"a.txt": b"2"}, revision="v2")
    assert main != v2 and hub.commit_sha("o/m") == main
    assert hub.file_bytes("o/m", "a.txt", "v2") == b"2"
    # same content, same sha256; generated files hash once and are cached per hub
    hub.add_model("o/n", {"x.bin": SizedFile(size=1 << 20, seed=1)})
    hub.add_model("o/p", {"y.bin": SizedFile(size=1 << 20, seed=1)})
    assert hub.expected_sha256("o/n", "x.bin") == hub.expected_sha256("o/p", "y.bin")
