"""Fixtures for the watch plugin's tests: the app with plugin `watch`, wired to the sandbox,
and small helpers to change objects as a user and to read frames with a deadline."""
from __future__ import annotations

import asyncio
import json
import ssl
import uuid
from typing import Any, AsyncIterator

import aiohttp
import pytest

from odh_core.testing import eventually

NS = "alice-project"


@pytest.fixture
def odh_plugins() -> list[str]:
    return ["watch"]


@pytest.fixture
def watch_config() -> dict[str, Any]:
    """Per-test overrides of `plugins.watch` (mode etc.)."""
    return {"mode": "per-user"}


@pytest.fixture
def odh_config(odh_base_config: dict[str, Any], watch_config: dict[str, Any]) -> dict[str, Any]:
    cfg = dict(odh_base_config)
    cfg["plugins"] = {"watch": {"enabled": True, "linger_seconds": 0,
                                "backoff_initial_seconds": 0.05, **watch_config}}
    return cfg


@pytest.fixture
def uid() -> str:
    """A per-test label value: the sandbox cluster is shared by the whole session, so each
    test watches only its own objects (and so gets its own informer)."""
    return uuid.uuid4().hex[:10]


class Cluster:
    """Changes objects straight on the sandbox API server, as a seed user."""

    def __init__(self, session: aiohttp.ClientSession, url: str, tokens: dict[str, str],
                 uid: str):
        self.uid = uid  # appended to every name: `<name>--<uid>`
        self.session = session
        self.url = url
        self.tokens = tokens

    async def call(self, method: str, path: str, body: Any = None, user: str = "alice",
                   headers: dict[str, str] | None = None) -> Any:
        hdrs = {"Authorization": f"Bearer {self.tokens[user]}", **(headers or {})}
        async with self.session.request(method, self.url + path, json=body,
                                        headers=hdrs) as resp:
            data = await resp.json(content_type=None)
            assert resp.status < 300, (resp.status, data)
            return data

    async def configmap(self, name: str, uid: str, data: dict[str, str] | None = None,
                        ns: str = NS) -> Any:
        return await self.call("POST", f"/api/v1/namespaces/{ns}/configmaps", {
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": f"{name}--{uid}", "labels": {"test": uid}}, "data": data or {}})

    async def set_data(self, name: str, data: dict[str, str], ns: str = NS) -> Any:
        name = f"{name}--{self.uid}"
        return await self.call("PATCH", f"/api/v1/namespaces/{ns}/configmaps/{name}",
                               {"data": data},
                               headers={"Content-Type": "application/merge-patch+json"})

    async def delete(self, name: str, ns: str = NS) -> Any:
        name = f"{name}--{self.uid}"
        return await self.call("DELETE", f"/api/v1/namespaces/{ns}/configmaps/{name}")


@pytest.fixture
async def cluster(sandbox_kube: Any, tokens: dict[str, str], uid: str) -> AsyncIterator[Cluster]:
    ctx = ssl.create_default_context(cafile=sandbox_kube.ca_file)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as session:
        yield Cluster(session, sandbox_kube.https_url, tokens, uid)


async def next_event(ws: Any, timeout: float = 10) -> dict[str, Any]:
    msg = await asyncio.wait_for(ws.read_message(), timeout)
    assert msg is not None, f"socket closed: {ws.close_code} {ws.close_reason}"
    return json.loads(msg)


def short(ev: dict[str, Any]) -> str:
    """An event's object name without the per-test suffix."""
    return str(ev["object"]["metadata"]["name"]).split("--")[0]


async def events_until(ws: Any, count: int, timeout: float = 15) -> list[tuple[str, str]]:
    """The next `count` events as (type, name)."""
    out = []
    for _ in range(count):
        ev = await next_event(ws, timeout)
        out.append((ev["type"], short(ev)))
    return out


def watch_path(uid: str, ns: str = NS, extra: str = "") -> str:
    return f"/wss/k8s/api/v1/namespaces/{ns}/configmaps?watch=true&labelSelector=test%3D{uid}{extra}"


def metric(server: Any, name: str, **labels: str) -> float:
    value = server.app.metrics.registry.get_sample_value(name, labels)
    return value or 0.0


class Helpers:
    """The helpers above as one fixture (test modules cannot import conftest)."""

    NS = NS
    next_event = staticmethod(next_event)
    short = staticmethod(short)
    events_until = staticmethod(events_until)
    watch_path = staticmethod(watch_path)
    metric = staticmethod(metric)
    until = staticmethod(eventually)  # the test kit's poll-with-deadline


@pytest.fixture
def h() -> type[Helpers]:
    return Helpers
