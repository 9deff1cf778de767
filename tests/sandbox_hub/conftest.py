"""A session-wide sandbox hub in its own thread; each test gets its faults cleared."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from odh_sandbox.hub import SandboxHub, SizedFile

TOKENS = {"hf_alice": "alice", "hf_bob": "bob"}
BIG = 200 * 1024 * 1024


@pytest.fixture(scope="session")
def hub() -> Iterator[SandboxHub]:
    hub = SandboxHub(tokens=TOKENS).start_in_thread()
    hub.add_model("org/public", {
        "config.json": b'{"model_type": "x"}',
        "dir/notes.txt": "hello " * 100,
        "model.safetensors": SizedFile(size=3 * 1024 * 1024 + 123, seed=1),
    })
    hub.add_model("org/big", {"model.safetensors": SizedFile(size=BIG, seed=7)})
    hub.add_model("org/gated", {"config.json": b"{}",
                                "model.safetensors": SizedFile(size=1 << 20, seed=2)},
                  gated=True, allowed_users=["alice"])
    hub.add_model("org/private", {"config.json": b"{}"}, private=True,
                  allowed_users=["alice"])
    yield hub
    hub.stop_thread()


@pytest.fixture(autouse=True)
def _clean_hub(request: pytest.FixtureRequest) -> Iterator[None]:
    if "hub" not in request.fixturenames:
        yield
        return
    hub: SandboxHub = request.getfixturevalue("hub")
    hub.faults.clear()
    hub.clear_requests()
    yield
    hub.faults.clear()
