"""contrib/deploy: well-formed manifests, a consistent Deployment, and RBAC that matches what
the code calls (evaluated for real by the sandbox API server with SubjectAccessReviews)."""
from __future__ import annotations

import re
import ssl
import subprocess
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from tests.ops.rbac_calls import CALLS, DENIED, NON_RESOURCE, NS, SOURCES, Call
from tests.ops.test_ops_container import run_without_sandbox_extra

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "contrib" / "deploy" / "base"

REQUIRED: dict[str, list[str]] = {
    "Deployment": ["spec.replicas", "spec.selector.matchLabels", "spec.template.spec.containers"],
    "Service": ["spec.selector", "spec.ports"],
    "ServiceAccount": [],
    "ConfigMap": ["data"],
    "PodDisruptionBudget": ["spec.selector.matchLabels"],
    "ClusterRole": ["rules"],
    "Role": ["rules"],
    "ClusterRoleBinding": ["subjects", "roleRef.name", "roleRef.kind"],
    "RoleBinding": ["subjects", "roleRef.name", "roleRef.kind"],
}
API_VERSIONS = {"Deployment": "apps/v1", "Service": "v1", "ServiceAccount": "v1",
                "ConfigMap": "v1", "PodDisruptionBudget": "policy/v1"}


def _get(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(obj, dict) or part not in obj:
            return None
        obj = obj[part]
    return obj


@pytest.fixture(scope="module")
def kustomization() -> dict[str, Any]:
    return yaml.safe_load((BASE / "kustomization.yaml").read_text())


@pytest.fixture(scope="module")
def docs(kustomization: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for name in kustomization["resources"]:
        for doc in yaml.safe_load_all((BASE / name).read_text()):
            assert isinstance(doc, dict), f"{name}: empty or non-mapping document"
            doc["__file__"] = name
            out.append(doc)
    return out


def one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind]
    assert len(found) == 1, f"{len(found)} {kind}"
    return found[0]


def test_kustomization_lists_every_manifest(kustomization: dict[str, Any]) -> None:
    files = {p.name for p in BASE.glob("*.yaml")} - {"kustomization.yaml"}
    assert sorted(kustomization["resources"]) == sorted(files)
    assert kustomization["namespace"] == "opendatahub"


def test_every_document_is_well_formed(docs: list[dict[str, Any]]) -> None:
    kinds = set()
    for d in docs:
        where = f"{d['__file__']}: {d.get('kind')}/{_get(d, 'metadata.name')}"
        assert d.get("kind") in REQUIRED, where
        assert d.get("apiVersion") == API_VERSIONS.get(
            d["kind"], "rbac.authorization.k8s.io/v1"), where
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", _get(d, "metadata.name") or ""), where
        assert "namespace" not in d["metadata"], f"{where}: the kustomization sets it"
        for path in REQUIRED[d["kind"]]:
            assert _get(d, path), f"{where}: missing {path}"
        kinds.add(d["kind"])
    assert set(REQUIRED) == kinds  # every kind the issue asks for is there


def test_deployment_shape(docs: list[dict[str, Any]]) -> None:
    dep = one(docs, "Deployment")
    pod = dep["spec"]["template"]["spec"]
    assert dep["spec"]["replicas"] == 2
    labels = dep["spec"]["template"]["metadata"]["labels"]
    assert dep["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert pod["serviceAccountName"] == one(docs, "ServiceAccount")["metadata"]["name"]
    assert pod["securityContext"] == {"runAsNonRoot": True,
                                      "seccompProfile": {"type": "RuntimeDefault"}}
    containers = {c["name"]: c for c in pod["containers"]}
    assert set(containers) == {"odh-core", "oauth-proxy"}
    for c in containers.values():  # Pod Security "restricted"
        sc = c["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False and sc["runAsNonRoot"] is True
        assert sc["capabilities"] == {"drop": ["ALL"]}
        assert "runAsUser" not in sc  # OpenShift assigns the UID
        for kind in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(c["resources"][kind]), (c["name"], kind)
    core = containers["odh-core"]
    assert core["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert core["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert core["startupProbe"]["httpGet"]["path"] == "/healthz"
    ports = {p["name"]: p["containerPort"] for p in core["ports"]}
    assert ports == {"http": 8080}
    # The proxy passes the user's token on as x-forwarded-access-token to odh-core.
    proxy = containers["oauth-proxy"]["args"]
    assert "--pass-access-token" in proxy and "--upstream=http://127.0.0.1:8080" in proxy
    # odh.yaml from the ConfigMap at ODH_CONFIG.
    cm = one(docs, "ConfigMap")
    mounts = {m["mountPath"]: m["name"] for m in core["volumeMounts"]}
    vols = {v["name"]: v for v in pod["volumes"]}
    assert vols[mounts["/etc/odh"]]["configMap"]["name"] == cm["metadata"]["name"]
    env = {e["name"]: e["value"] for e in core["env"]}
    assert env["ODH_CONFIG"] == "/etc/odh/odh.yaml"
    # A read-only root needs writable mounts where odh-core writes.
    assert core["securityContext"]["readOnlyRootFilesystem"] is True
    assert {"/tmp", "/opt/odh/state"} <= set(mounts)


def test_service_and_pdb_select_the_pods(docs: list[dict[str, Any]]) -> None:
    dep = one(docs, "Deployment")
    labels = dep["spec"]["template"]["metadata"]["labels"]
    svc, pdb = one(docs, "Service"), one(docs, "PodDisruptionBudget")
    assert svc["spec"]["selector"].items() <= labels.items()
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert pdb["spec"]["minAvailable"] < dep["spec"]["replicas"]  # drains can proceed
    named = {p["name"] for c in dep["spec"]["template"]["spec"]["containers"]
             for p in c["ports"]}
    assert all(p["targetPort"] in named for p in svc["spec"]["ports"])
    assert [p["targetPort"] for p in svc["spec"]["ports"]] == ["https"]  # only the proxy


def test_configmap_odh_yaml_is_valid_for_the_production_image(docs: list[dict[str, Any]],
                                                             tmp_path: Path) -> None:
    text = one(docs, "ConfigMap")["data"]["odh.yaml"]
    cfg = yaml.safe_load(text)
    assert cfg["sandbox"]["mode"] == "off" and cfg["auth"]["mode"] == "token"
    assert cfg["kubernetes"]["dashboard_namespace"] == "opendatahub"
    (tmp_path / "odh.yaml").write_text(text)
    # As in the image: the sandbox extra absent; in-cluster config is not there in a test,
    # so point at an address (config check does not connect).
    result = run_without_sandbox_extra("config", "check", "--config", str(tmp_path / "odh.yaml"),
                                       env={"ODH_KUBERNETES__HOST": "https://127.0.0.1:1"})
    assert result.returncode == 0, result.stderr
    assert "LEAKED []" in result.stdout


def _rbac(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in docs if d["apiVersion"].startswith("rbac.authorization.k8s.io")]


def test_rbac_grants_no_wildcards_and_binds_only_the_service_account(
        docs: list[dict[str, Any]]) -> None:
    sa = one(docs, "ServiceAccount")["metadata"]["name"]
    for d in _rbac(docs):
        for rule in d.get("rules", []):
            for key in ("verbs", "resources", "apiGroups", "nonResourceURLs", "resourceNames"):
                assert "*" not in rule.get(key, []), (d["metadata"]["name"], rule)
            assert not {"escalate", "bind", "impersonate", "delete", "deletecollection"} \
                & set(rule["verbs"]), rule
        if d["kind"].endswith("Binding"):
            assert d["subjects"] == [{"kind": "ServiceAccount", "name": sa,
                                      "namespace": "opendatahub"}]
            assert d["roleRef"]["kind"] in ("Role", "ClusterRole")
            assert any(r["kind"] == d["roleRef"]["kind"]
                       and r["metadata"]["name"] == d["roleRef"]["name"] for r in _rbac(docs))
    # Secrets only by name (besides create, which Kubernetes cannot limit by name).
    for d in _rbac(docs):
        for rule in d.get("rules", []):
            if "secrets" in rule.get("resources", []) and rule["verbs"] != ["create"]:
                assert rule.get("resourceNames"), rule
                assert d["kind"] == "Role", "secrets never cluster-wide"


def test_call_table_follows_the_code() -> None:
    """A new file that acts with the service account must be added to rbac_calls.py (and
    the manifests) or this fails."""
    found = subprocess.run(["grep", "-rl", "--include=*.py", "token=SERVICE_ACCOUNT\\|"
                            "SERVICE_ACCOUNT,", "odh_core", "plugins"], cwd=ROOT,
                           capture_output=True, text=True).stdout.split()
    found = {f for f in found if "/tests/" not in f and "/sandbox/" not in f
             and f != "odh_core/__init__.py"}  # the export, not a call
    assert found == set(SOURCES)


# -- RBAC evaluated by the sandbox API server --------------------------------------------

TEST_SA = "odh-core-ops-rbac"
NAMESPACE = "opendatahub"  # the sandbox's dashboard namespace


def _ssl(kube: Any) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=kube.ca_file)


async def _apply(session: aiohttp.ClientSession, kube: Any, admin: str,
                 doc: dict[str, Any]) -> None:
    plural = {"ClusterRole": "clusterroles", "ClusterRoleBinding": "clusterrolebindings",
              "Role": "roles", "RoleBinding": "rolebindings"}[doc["kind"]]
    base = f"{kube.https_url}/apis/rbac.authorization.k8s.io/v1"
    ns = doc["metadata"].get("namespace")
    url = f"{base}/namespaces/{ns}/{plural}" if ns else f"{base}/{plural}"
    hdrs = {"Authorization": f"Bearer {admin}"}
    async with session.post(url, json=doc, headers=hdrs) as resp:
        if resp.status == 409:  # from an earlier test in this session: replace it
            async with session.put(f"{url}/{doc['metadata']['name']}", json=doc,
                                   headers=hdrs) as put:
                assert put.status == 200, await put.text()
        else:
            assert resp.status == 201, await resp.text()


def _for_test(doc: dict[str, Any]) -> dict[str, Any]:
    """The manifest, renamed so it cannot meet the sandbox's own odh-core seed, bound to a
    fresh service account that has nothing else."""
    doc = {k: v for k, v in doc.items() if k != "__file__"}
    doc["metadata"] = {"name": f"{doc['metadata']['name']}-opstest"}
    if doc["kind"] in ("Role", "RoleBinding"):
        doc["metadata"]["namespace"] = NAMESPACE
    if doc["kind"].endswith("Binding"):
        doc["subjects"] = [{"kind": "ServiceAccount", "name": TEST_SA, "namespace": NAMESPACE}]
        doc["roleRef"] = dict(doc["roleRef"], name=f"{doc['roleRef']['name']}-opstest")
    return doc


async def _allowed(session: aiohttp.ClientSession, kube: Any, admin: str,
                   attrs: dict[str, Any]) -> bool:
    body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "spec": {"user": f"system:serviceaccount:{NAMESPACE}:{TEST_SA}",
                     "groups": ["system:serviceaccounts",
                                f"system:serviceaccounts:{NAMESPACE}",
                                "system:authenticated"], **attrs}}
    async with session.post(f"{kube.https_url}/apis/authorization.k8s.io/v1/"
                            "subjectaccessreviews", json=body,
                            headers={"Authorization": f"Bearer {admin}"}) as resp:
        assert resp.status == 201, await resp.text()
        return bool((await resp.json())["status"].get("allowed"))


def _attrs(call: Call) -> dict[str, Any]:
    ra: dict[str, Any] = {"verb": call.verb, "group": call.group, "resource": call.resource}
    if call.namespace:
        ra["namespace"] = NAMESPACE if call.namespace == NS else call.namespace
    if call.name:
        ra["name"] = call.name
    return {"resourceAttributes": ra}


async def test_rbac_allows_every_service_account_call_and_nothing_broader(
        docs: list[dict[str, Any]], sandbox_kube: Any, tokens: dict[str, str]) -> None:
    admin = tokens["admin"]
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=_ssl(sandbox_kube))
                                     ) as session:
        # Before the roles exist the account can do none of it: the reviews can fail.
        assert not await _allowed(session, sandbox_kube, admin, _attrs(CALLS[0]))
        for doc in _rbac(docs):
            await _apply(session, sandbox_kube, admin, _for_test(doc))
        missing = [c for c in CALLS if not await _allowed(session, sandbox_kube, admin,
                                                          _attrs(c))]
        missing += [n for n in NON_RESOURCE if not await _allowed(
            session, sandbox_kube, admin, {"nonResourceAttributes": {"verb": "get",
                                                                     "path": n.path}})]
        assert missing == []
        broader = [c for c in DENIED if await _allowed(session, sandbox_kube, admin,
                                                       _attrs(c))]
        assert broader == []
