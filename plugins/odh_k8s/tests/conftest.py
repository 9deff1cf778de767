"""Fixtures for the k8s plugin's tests: the app with plugin `k8s`, wired to the sandbox."""
from __future__ import annotations

import ssl
import uuid
from typing import Any, AsyncIterator

import aiohttp
import pytest


@pytest.fixture
def odh_plugins() -> list[str]:
    return ["k8s"]


@pytest.fixture
def uid() -> str:
    """A per-test suffix: the sandbox cluster is shared by the whole session."""
    return uuid.uuid4().hex[:8]


@pytest.fixture
async def direct(sandbox_kube: Any) -> AsyncIterator[Any]:
    """An aiohttp session straight to the sandbox API server (the baseline to compare with)."""
    ctx = ssl.create_default_context(cafile=sandbox_kube.ca_file)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx),
                                     auto_decompress=False) as session:
        session.kube_url = sandbox_kube.https_url  # type: ignore[attr-defined]
        yield session


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A client session for streaming requests to the app under test."""
    async with aiohttp.ClientSession() as session:
        yield session
