"""The app the fuzz tests run against: every plugin that can start in tests, wired to the
session's sandboxes, with a dashboard namespace and a plain-user identity of its own so that
whatever the fuzzer creates or changes touches nothing other tests read."""
from __future__ import annotations

import json
import secrets
import ssl
import urllib.error
import urllib.request
import uuid
from typing import Any

import pytest

FUZZ_PLUGINS = ["k8s", "watch", "dashboard", "s3", "hf", "federation", "services"]


class _Kube:
    """Set-up calls to the sandbox API server as its admin (sync: runs before the app)."""

    def __init__(self, sandbox_kube: Any):
        self.url, self.ca = sandbox_kube.https_url, sandbox_kube.ca_file
        self.token = sandbox_kube.token("admin")

    def post(self, path: str, obj: dict[str, Any]) -> None:
        req = urllib.request.Request(self.url + path, data=json.dumps(obj).encode(), method="POST",
                                     headers={"Authorization": f"Bearer {self.token}",
                                              "Content-Type": "application/json"})
        ctx = ssl.create_default_context(cafile=self.ca)
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
                assert resp.status == 201
        except urllib.error.HTTPError as exc:
            with exc:
                raise AssertionError(f"POST {path}: {exc.code} {exc.read()!r}") from None


@pytest.fixture(scope="module")
def fuzz_world(sandbox_kube: Any) -> dict[str, str]:
    """A namespace of this module's own: the dashboard namespace of the fuzzed app (with the
    rights odh-core's service account has in `opendatahub`) and home of the plain user, a
    service account with `edit` there and nothing elsewhere."""
    kube = _Kube(sandbox_kube)
    ns = f"fuzz-{uuid.uuid4().hex[:8]}"
    token = "fuzz-" + secrets.token_hex(16)
    rbac = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}"
    kube.post("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                     "metadata": {"name": ns}})
    kube.post(f"{rbac}/roles", {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": {"name": "odh-core"},
        "rules": [{"apiGroups": [""], "resources": ["configmaps", "secrets"],
                   "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]}]})
    kube.post(f"{rbac}/rolebindings", {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "odh-core"},
        "subjects": [{"kind": "ServiceAccount", "name": "odh-core", "namespace": "opendatahub"}],
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "odh-core"}})
    kube.post(f"/api/v1/namespaces/{ns}/serviceaccounts", {
        "apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "fuzzer"}})
    kube.post(f"/api/v1/namespaces/{ns}/secrets", {
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
        "metadata": {"name": "fuzzer-token",
                     "annotations": {"kubernetes.io/service-account.name": "fuzzer"}},
        "stringData": {"token": token}})
    kube.post(f"{rbac}/rolebindings", {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "fuzzer-edit"},
        "subjects": [{"kind": "ServiceAccount", "name": "fuzzer", "namespace": ns}],
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                    "name": "edit"}})
    return {"namespace": ns, "user_token": token}


@pytest.fixture
def odh_plugins() -> list[str]:
    return FUZZ_PLUGINS


@pytest.fixture
def odh_config(odh_base_config: dict[str, Any], sandbox_s3: Any, sandbox_hub: Any,
               fuzz_world: dict[str, str], tmp_path: Any) -> dict[str, Any]:
    ns = fuzz_world["namespace"]
    no_proxy = {"http_proxy": "", "https_proxy": "", "no_proxy": ""}
    return {**odh_base_config,
            "kubernetes": {**odh_base_config["kubernetes"], "dashboard_namespace": ns},
            "logging": {"access_log": False},
            "plugins": {
                "s3": {"endpoint": sandbox_s3.endpoint, "access_key_id": sandbox_s3.access_key,
                       "secret_access_key": sandbox_s3.secret_key, "region": sandbox_s3.region,
                       "default_bucket": sandbox_s3.default_bucket,
                       "state_dir": str(tmp_path / "s3"),
                       "settings_secret": f"s3-creds-{ns}",
                       "settings_configmap": f"s3-settings-{ns}", **no_proxy,
                       # the plain user fuzzes the S3 routes on the shared S3, as before
                       # per-user sources; a user's own settings may only name the sandbox S3
                       # (an offline AWS endpoint would only measure retries)
                       "shared_groups": ["system:authenticated"], "allowed_endpoints": []},
                "hf": {"endpoint": sandbox_hub.endpoint, "token": None,
                       "settings_store": "file", "state_dir": str(tmp_path / "hf"),
                       "retries": 0, **no_proxy},
            }}
