"""Fixtures of the dashboard plugin's tests: an app with `dashboard`, pointed at a dashboard
namespace of its own in the session's sandbox (so these tests never change the seed's
`opendatahub` objects other tests read)."""
from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
import uuid
from typing import Any, Callable, Iterator

import aiohttp
import pytest

CONFIG_PATH = "/apis/opendatahub.io/v1alpha/namespaces/{ns}/odhdashboardconfigs"

# The object our own dashboard namespace starts with: a few flags set, the rest defaults.
SEED_CONFIG_SPEC = {
    "dashboardConfig": {"disableTracking": False, "disableKServe": True, "mlflow": False},
    "notebookController": {"enabled": True, "pvcSize": "30Gi"},
}


class AdminKube:
    """Direct calls to the sandbox API server as its admin (set-up, and changes made "behind
    odh-core's back"). Sync for module fixtures, async for use inside tests."""

    def __init__(self, sandbox_kube: Any):
        self.url = sandbox_kube.https_url
        self.ca_file = sandbox_kube.ca_file
        self.token = sandbox_kube.token("admin")

    def _headers(self, ctype: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Content-Type": ctype,
                "Accept": "application/json"}

    def sync(self, method: str, path: str, body: Any = None,
             ctype: str = "application/json") -> tuple[int, Any]:
        ctx = ssl.create_default_context(cafile=self.ca_file)
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers=self._headers(ctype))
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, json.loads(exc.read() or b"null")

    async def call(self, method: str, path: str, body: Any = None,
                   ctype: str = "application/json") -> tuple[int, Any]:
        ctx = ssl.create_default_context(cafile=self.ca_file)
        async with aiohttp.ClientSession() as session:
            async with session.request(method, self.url + path, ssl=ctx,
                                       headers=self._headers(ctype),
                                       data=json.dumps(body) if body is not None else None
                                       ) as resp:
                return resp.status, await resp.json(content_type=None)


@pytest.fixture(scope="session")
def admin_kube(sandbox_kube: Any) -> AdminKube:
    return AdminKube(sandbox_kube)


def _make_namespace(admin: AdminKube, prefix: str, labels: dict[str, str] | None = None,
                    annotations: dict[str, str] | None = None) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    status, body = admin.sync("POST", "/api/v1/namespaces", {
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": name, "labels": labels or {}, "annotations": annotations or {}}})
    assert status == 201, body
    return name


@pytest.fixture(scope="session")
def make_namespace(admin_kube: AdminKube) -> Callable[..., str]:
    """`make_namespace(prefix, labels=, annotations=)` -> a new namespace's name (admin)."""
    return lambda prefix, **kw: _make_namespace(admin_kube, prefix, **kw)


@pytest.fixture(scope="module")
def dash_ns(admin_kube: AdminKube) -> Iterator[str]:
    """A dashboard namespace of this module's own: the config object, and the same rights
    for odh-core's service account as it has in `opendatahub` (the seed's Role there)."""
    ns = _make_namespace(admin_kube, "dash")
    rbac = "/apis/rbac.authorization.k8s.io/v1/namespaces/" + ns
    for path, obj in (
        (f"{rbac}/roles", {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                           "metadata": {"name": "odh-core"},
                           "rules": [{"apiGroups": [""], "resources": ["configmaps", "secrets"],
                                      "verbs": ["get", "list", "watch", "create", "update",
                                                "patch", "delete"]}]}),
        (f"{rbac}/rolebindings", {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": "odh-core"},
            "subjects": [{"kind": "ServiceAccount", "name": "odh-core",
                          "namespace": "opendatahub"}],
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                        "name": "odh-core"}}),
        (CONFIG_PATH.format(ns=ns), {
            "apiVersion": "opendatahub.io/v1alpha", "kind": "OdhDashboardConfig",
            "metadata": {"name": "odh-dashboard-config"}, "spec": SEED_CONFIG_SPEC}),
    ):
        status, body = admin_kube.sync("POST", path, obj)
        assert status == 201, body
    yield ns
    admin_kube.sync("DELETE", f"/api/v1/namespaces/{ns}")


@pytest.fixture
def odh_plugins() -> list[str]:
    return ["dashboard"]


@pytest.fixture
def odh_config(odh_base_config: dict[str, Any], dash_ns: str) -> dict[str, Any]:
    return {**odh_base_config,
            "kubernetes": {**odh_base_config["kubernetes"], "dashboard_namespace": dash_ns}}
