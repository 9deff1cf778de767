"""Fixtures: one sandbox API server (thread runner) for the whole session, and clients."""
from __future__ import annotations

import uuid
from typing import Any, Callable, Iterator

import pytest
from kubernetes import client

from odh_sandbox.kube import SandboxKube


@pytest.fixture(scope="session")
def kube() -> Iterator[SandboxKube]:
    server = SandboxKube().start()
    try:
        yield server
    finally:
        server.stop()


def make_config(kube: SandboxKube, user: str | None, https: bool = False
                ) -> client.Configuration:
    cfg = client.Configuration()
    cfg.host = kube.https_url if https else kube.http_url
    if https:
        cfg.ssl_ca_cert = kube.ca_file
    if user:
        cfg.api_key = {"authorization": kube.token(user)}
        cfg.api_key_prefix = {"authorization": "Bearer"}
    return cfg


@pytest.fixture
def api_client(kube: SandboxKube) -> Iterator[Callable[..., client.ApiClient]]:
    """Factory of sync ApiClients over http for a seed user; all closed after the test."""
    made: list[client.ApiClient] = []

    def factory(user: str | None = "admin", https: bool = False) -> client.ApiClient:
        c = client.ApiClient(make_config(kube, user, https))
        made.append(c)
        return c
    yield factory
    for c in made:
        c.close()


@pytest.fixture
def core(api_client: Callable[..., client.ApiClient]) -> client.CoreV1Api:
    return client.CoreV1Api(api_client("admin"))


@pytest.fixture
def custom(api_client: Callable[..., client.ApiClient]) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api_client("admin"))


@pytest.fixture
def ns(core: client.CoreV1Api) -> Iterator[str]:
    """A fresh namespace per test (the server is shared by the session)."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    core.create_namespace({"metadata": {"name": name}})
    yield name
    try:
        core.delete_namespace(name)
    except client.ApiException as e:
        if e.status != 404:
            raise


def cm(name: str, labels: dict[str, str] | None = None, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "labels": labels or {}}, "data": data}
