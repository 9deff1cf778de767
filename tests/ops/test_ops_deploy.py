"""contrib/deploy: well-formed manifests, a consistent Deployment, and RBAC that matches what
the code calls (evaluated for real by the sandbox API server with SubjectAccessReviews)."""
from __future__ import annotations

import re
import shutil
import ssl
import subprocess
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from tests.ops.rbac_calls import (CALLS, DENIED, HELD_ROLES, IM, MR, NB, NON_RESOURCE, NS,
                                  SOURCES, WORKER_CALLS, WORKER_DENIED, WORKER_SA, Call)
from tests.ops.test_ops_container import run_without_sandbox_extra

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "contrib" / "deploy"
BASE = DEPLOY / "base"
# Each kustomization under contrib/deploy and the namespace (rbac_calls placeholder) its Roles
# and RoleBindings land in.
PARTS = {"base": NS, "model-registries": MR, "notebooks": NB, "imports": IM}

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
    "CustomResourceDefinition": ["spec.group", "spec.names.kind", "spec.versions"],
}
API_VERSIONS = {"Deployment": "apps/v1", "Service": "v1", "ServiceAccount": "v1",
                "ConfigMap": "v1", "PodDisruptionBudget": "policy/v1",
                "CustomResourceDefinition": "apiextensions.k8s.io/v1"}


def _get(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(obj, dict) or part not in obj:
            return None
        obj = obj[part]
    return obj


def _kustomization(part: str) -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / part / "kustomization.yaml").read_text())


@pytest.fixture(scope="module")
def docs() -> list[dict[str, Any]]:
    """Every document of every kustomization, with where it comes from (`__file__`) and the
    namespace placeholder its namespaced objects land in (`__ns__`)."""
    out = []
    for part, ns in PARTS.items():
        for name in _kustomization(part)["resources"]:
            for doc in yaml.safe_load_all((DEPLOY / part / name).read_text()):
                assert isinstance(doc, dict), f"{part}/{name}: empty or non-mapping document"
                doc["__file__"], doc["__ns__"] = f"{part}/{name}", ns
                out.append(doc)
    return out


def one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind]
    assert len(found) == 1, f"{len(found)} {kind}"
    return found[0]


def core_sa(docs: list[dict[str, Any]]) -> str:
    """odh-core's own service account (base/; imports/ holds the import pods' one)."""
    found = [d for d in docs if d["kind"] == "ServiceAccount" and _part(d) == "base"]
    assert len(found) == 1, found
    return found[0]["metadata"]["name"]


def is_worker(doc: dict[str, Any]) -> bool:
    """One of the Job executor pods' ServiceAccount, Role and RoleBinding (imports/)."""
    return _part(doc) == "imports" and doc["metadata"]["name"] == WORKER_SA


def test_kustomization_lists_every_manifest() -> None:
    top = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    # No namespace at the top: kustomize would move every part's objects into it.
    assert "namespace" not in top and top["resources"] == list(PARTS)
    assert {p.name for p in DEPLOY.iterdir() if p.is_dir()} == set(PARTS)
    for part in PARTS:
        kust = _kustomization(part)
        files = {p.name for p in (DEPLOY / part).glob("*.yaml")} - {"kustomization.yaml"}
        assert sorted(kust["resources"]) == sorted(files), part
    # The namespaces follow the configuration in the ConfigMap: the dashboard namespace, the
    # model registries namespace, and the notebook namespace's default (the dashboard one).
    cfg = yaml.safe_load(yaml.safe_load((BASE / "configmap.yaml").read_text())["data"][
        "odh.yaml"])
    dash_ns = cfg["kubernetes"]["dashboard_namespace"]
    assert _kustomization("base")["namespace"] == dash_ns == "opendatahub"
    assert _kustomization("model-registries")["namespace"] == \
        cfg["plugins"]["dashboard"]["model_registries_namespace"]
    assert _kustomization("notebooks")["namespace"] == dash_ns
    assert _kustomization("imports")["namespace"] == cfg["plugins"]["hf"]["jobs_namespace"]


def test_rendered_objects_land_in_their_namespaces() -> None:
    """`kustomize build contrib/deploy` (kubectl's built-in kustomize): each part's Roles in its
    own namespace, and the bindings' subject still the dashboard namespace's service account."""
    tool = shutil.which("kustomize") or shutil.which("kubectl")
    if tool is None:
        pytest.skip("neither kustomize nor kubectl is installed")
    cmd = [tool, "build" if tool.endswith("kustomize") else "kustomize", str(DEPLOY)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    where = {(d["kind"], d["metadata"]["name"]): d["metadata"].get("namespace")
             for d in yaml.safe_load_all(out.stdout) if d}
    assert where[("Role", "odh-core-dashboard-settings")] == "opendatahub"
    assert where[("Role", "odh-core-model-registries")] == "odh-model-registries"
    assert where[("RoleBinding", "odh-core-model-registries")] == "odh-model-registries"
    assert where[("RoleBinding", "odh-core-dashboard-notebooks")] == "opendatahub"
    assert where[("ClusterRole", "odh-core-dashboard-notebooks")] is None
    assert ("ClusterRoleBinding", "odh-core-dashboard-notebooks") not in where
    for kind in ("ServiceAccount", "Role", "RoleBinding"):  # the import pods' own
        assert where[(kind, WORKER_SA)] == "odh-core-imports"
    for d in yaml.safe_load_all(out.stdout):
        if d and d["kind"].endswith("Binding"):
            sa = ("odh-core-imports", WORKER_SA) if d["metadata"]["name"] == WORKER_SA \
                else ("opendatahub", "odh-core")
            assert d["subjects"] == [{"kind": "ServiceAccount", "name": sa[1],
                                      "namespace": sa[0]}], d["metadata"]


def test_every_document_is_well_formed(docs: list[dict[str, Any]]) -> None:
    kinds = set()
    for d in docs:
        where = f"{d['__file__']}: {d.get('kind')}/{_get(d, 'metadata.name')}"
        assert d.get("kind") in REQUIRED, where
        assert d.get("apiVersion") == API_VERSIONS.get(
            d["kind"], "rbac.authorization.k8s.io/v1"), where
        name_re = r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?" if d["kind"] == "CustomResourceDefinition" \
            else r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
        assert re.fullmatch(name_re, _get(d, "metadata.name") or ""), where
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
    assert pod["serviceAccountName"] == core_sa(docs)
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


# The policy the manifests keep (README.md explains each exception):
# - never `*`, `bind`, `escalate`, `impersonate` or `deletecollection`: odh-core writes Roles
#   and RoleBindings only with permissions it holds itself (Kubernetes checks that);
# - `delete` only in namespaced grants, only on the kinds the admin routes of issue 13 remove
#   after their admin check (DELETABLE, per kustomization), never cluster-wide;
# - Secrets never cluster-wide, and beyond `create` only by name, except where the names are
#   made at run time (NAMELESS_SECRETS: the verbs allowed without resourceNames);
# - RBAC objects written only in namespaced grants (the notebook and registries namespaces).
NEVER = {"escalate", "bind", "impersonate", "deletecollection"}
DELETABLE = {
    # connection-type ConfigMaps, Templates, the ISV validation Job, the NIM Account + Secret
    "base": {"configmaps", "templates", "jobs", "accounts", "secrets"},
    # a ModelRegistry, its database-password Secret, a registry permission (RoleBinding)
    "model-registries": {"modelregistries", "secrets", "rolebindings"},
    "notebooks": set(),
    # finished import jobs (garbage collection) and each job's own credentials Secret
    "imports": {"importjobs", "secrets"},
}
NAMELESS_SECRETS = {
    # the ISV validation Secret named by each OdhApplication: replaced, never read
    ("base", "odh-core-dashboard-settings"): {"update"},
    # generated database-password Secrets; the certificate route lists names
    ("model-registries", "odh-core-model-registries"): {"get", "list", "create", "patch",
                                                        "delete"},
    # the users' env Secrets (names per user, each checked by name and owner annotation)
    ("notebooks", "odh-core-dashboard-notebooks"): {"get", "update"},
    # each ImportJob's credentials Secret (generated names), in the imports namespace only
    ("imports", "odh-core-imports"): {"get", "delete"},
    # the import pod deletes its finished job's Secret (it reads its mounted copy)
    ("imports", WORKER_SA): {"delete"},
}
RBAC_KINDS = {"roles", "rolebindings", "clusterroles", "clusterrolebindings"}


def _part(doc: dict[str, Any]) -> str:
    return doc["__file__"].split("/")[0]


def test_rbac_grants_no_wildcards_and_binds_only_the_service_account(
        docs: list[dict[str, Any]]) -> None:
    sa = core_sa(docs)
    rbac = _rbac(docs)
    for d in rbac:
        if d["kind"].endswith("Binding") and is_worker(d):
            # The import pods' account: bound only in the imports namespace (a RoleBinding of
            # imports/), only to its own Role.
            assert d["kind"] == "RoleBinding"
            assert d["subjects"] == [{"kind": "ServiceAccount", "name": WORKER_SA,
                                      "namespace": "odh-core-imports"}]
            assert d["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                    "name": WORKER_SA}
        elif d["kind"].endswith("Binding"):
            assert d["subjects"] == [{"kind": "ServiceAccount", "name": sa,
                                      "namespace": "opendatahub"}]
            assert d["roleRef"]["kind"] in ("Role", "ClusterRole")
            assert any(r["kind"] == d["roleRef"]["kind"]
                       and r["metadata"]["name"] == d["roleRef"]["name"] for r in rbac)
    cluster_bound = {d["roleRef"]["name"] for d in rbac if d["kind"] == "ClusterRoleBinding"}
    for d in rbac:
        if d["kind"] not in ("Role", "ClusterRole"):
            continue
        where = f"{d['__file__']}: {d['kind']}/{d['metadata']['name']}"
        # A ClusterRole that no ClusterRoleBinding binds grants only where RoleBindings are.
        namespaced = d["kind"] == "Role" or d["metadata"]["name"] not in cluster_bound
        for rule in d.get("rules", []):
            for key in ("verbs", "resources", "apiGroups", "nonResourceURLs", "resourceNames"):
                assert "*" not in rule.get(key, []), (where, rule)
            verbs, resources = set(rule["verbs"]), set(rule.get("resources", []))
            assert not NEVER & verbs, (where, rule)
            if "delete" in verbs:
                assert namespaced, f"{where}: delete cluster-wide"
                assert resources <= DELETABLE[_part(d)], (where, rule)
            if resources & RBAC_KINDS and not verbs <= {"list", "watch"}:  # reading is fine
                assert namespaced and resources <= {"roles", "rolebindings"}, (where, rule)
            if "secrets" in resources and verbs != {"create"}:
                assert namespaced, f"{where}: secrets never cluster-wide"
                if not rule.get("resourceNames"):
                    allowed = NAMELESS_SECRETS.get((_part(d), d["metadata"]["name"]), set())
                    assert verbs <= allowed | {"create"}, (where, rule)


def test_import_worker_rbac_is_what_the_executor_renders(docs: list[dict[str, Any]]) -> None:
    """imports/rbac-import-worker.yaml is `job_rbac()` for the shipped configuration, and the
    executor's Job runs as that account by default."""
    from odh_hf.config import HfConfig
    from odh_hf.executor import job_rbac, render_job

    cfg = yaml.safe_load(yaml.safe_load((BASE / "configmap.yaml").read_text())["data"][
        "odh.yaml"])["plugins"]["hf"]
    account = cfg.get("job_service_account", HfConfig().job_service_account)
    assert account == HfConfig().job_service_account == WORKER_SA
    rendered = job_rbac(cfg["jobs_namespace"], account)
    for d in rendered:
        del d["metadata"]["namespace"]  # the kustomization sets it
    shipped = [{k: v for k, v in d.items() if not k.startswith("__")}
               for d in docs if is_worker(d)]
    assert shipped == rendered
    obj = {"metadata": {"name": "hf-import-0123456789abcdef", "namespace": "odh-core-imports",
                        "uid": "u"},
           "spec": {"destination": {"secretName": "hf-import-0123456789abcdef"}},
           "apiVersion": "odh-core.opendatahub.io/v1alpha1", "kind": "ImportJob"}
    job = render_job(obj, image="i", service_account=HfConfig().job_service_account, env=[],
                     resources={})
    assert job["spec"]["template"]["spec"]["serviceAccountName"] == WORKER_SA
    # Least privilege: the pods' grants are a subset of the replicas' own in that namespace
    # (nothing the replicas could not do), without Jobs, Secret reads or spec changes.
    role = next(d for d in rendered if d["kind"] == "Role")
    verbs = {(g, r, v) for rule in role["rules"] for g in rule["apiGroups"]
             for r in rule["resources"] for v in rule["verbs"]}
    replicas = next(d for d in docs if d["kind"] == "Role" and _part(d) == "imports"
                    and d["metadata"]["name"] == "odh-core-imports")
    assert verbs <= {(g, r, v) for rule in replicas["rules"] for g in rule["apiGroups"]
                     for r in rule["resources"] for v in rule["verbs"]}
    assert not {("batch", "jobs", "create"), ("", "secrets", "get"),
                ("odh-core.opendatahub.io", "importjobs", "patch")} & verbs


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
# Where the placeholders land in the sandbox. The notebook namespace defaults to the dashboard
# namespace, but here its grants go to a namespace of their own, so that each part is checked
# on its own (a dashboard-namespace call allowed only by the notebook grants would fail, and
# DENIED's dashboard-namespace Secret checks hold for base/ alone: in a deployment that keeps
# the default notebook namespace, the notebook grants read every Secret there, as README.md
# says).
SANDBOX_NS = {NS: NAMESPACE, MR: "odh-model-registries", NB: "odh-core-ops-notebooks",
              IM: "odh-core-ops-imports"}


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


def _for_test(doc: dict[str, Any], test_sa: str = "") -> dict[str, Any]:
    """The manifest, renamed so it cannot meet the sandbox's own odh-core seed, bound to a
    fresh service account that has nothing else (`test_sa`, default TEST_SA), in its part's
    namespace."""
    test_sa = test_sa or TEST_SA
    ns = SANDBOX_NS[doc["__ns__"]]
    doc = {k: v for k, v in doc.items() if not k.startswith("__")}
    doc["metadata"] = {"name": f"{doc['metadata']['name']}-opstest"}
    if doc["kind"] in ("Role", "RoleBinding"):
        doc["metadata"]["namespace"] = ns
    if doc["kind"].endswith("Binding"):
        doc["subjects"] = [{"kind": "ServiceAccount", "name": test_sa, "namespace": NAMESPACE}]
        doc["roleRef"] = dict(doc["roleRef"], name=f"{doc['roleRef']['name']}-opstest")
    return doc


async def _allowed(session: aiohttp.ClientSession, kube: Any, admin: str,
                   attrs: dict[str, Any], test_sa: str = "") -> bool:
    body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "spec": {"user": f"system:serviceaccount:{NAMESPACE}:{test_sa or TEST_SA}",
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
        ra["namespace"] = SANDBOX_NS.get(call.namespace, call.namespace)
    if call.name:
        ra["name"] = call.name
    return {"resourceAttributes": ra}


class _Recorder:
    """Stands in for the KubeClient when notebooks.py builds its per-user Role: keeps the
    bodies it would send."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, Any]] = []

    async def json(self, method: str, path: str, **kwargs: Any) -> Any:
        self.sent.append((method, path, kwargs.get("json")))
        return kwargs.get("json")


async def _notebook_role(ns: str) -> list[dict[str, Any]]:
    """The rules of the Role the Jupyter tile writes for a user (built by the code itself)."""
    from odh_dashboard.notebooks import NotebooksHandler, names_for

    class Stub:
        kube = _Recorder()

        async def read_owned(self, *_: Any, **__: Any) -> None:
            return None  # nothing there yet: the Role and RoleBinding are created

    stub = Stub()
    await NotebooksHandler.ensure_rbac(stub, ns, names_for("alice"), "alice")  # type: ignore[arg-type]
    roles = [body for method, path, body in stub.kube.sent
             if method == "POST" and path.endswith("/roles")]
    bindings = [body for method, path, body in stub.kube.sent
                if method == "POST" and path.endswith("/rolebindings")]
    assert len(roles) == 1 and len(bindings) == 1
    assert bindings[0]["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                      "name": roles[0]["metadata"]["name"]}
    return roles[0]["rules"]


def _held(rules: list[dict[str, Any]], ns: str) -> list[Call]:
    """Every permission a Role with `rules` grants in `ns`, as calls: what its creator must
    hold (Kubernetes' escalation check for a subject without `escalate`/`bind`)."""
    return [Call("held", verb, group, resource, ns, name)
            for rule in rules for group in rule["apiGroups"] for resource in rule["resources"]
            for verb in rule["verbs"] for name in (rule.get("resourceNames") or [None])]


async def _ensure_namespace(session: aiohttp.ClientSession, kube: Any, admin: str,
                            name: str) -> None:
    async with session.post(f"{kube.https_url}/api/v1/namespaces",
                            json={"apiVersion": "v1", "kind": "Namespace",
                                  "metadata": {"name": name}},
                            headers={"Authorization": f"Bearer {admin}"}) as resp:
        assert resp.status in (201, 409), await resp.text()


async def test_rbac_allows_every_service_account_call_and_nothing_broader(
        docs: list[dict[str, Any]], sandbox_kube: Any, tokens: dict[str, str]) -> None:
    admin = tokens["admin"]
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=_ssl(sandbox_kube))
                                     ) as session:
        # Before the roles exist the account can do none of it: the reviews can fail.
        assert not await _allowed(session, sandbox_kube, admin, _attrs(CALLS[0]))
        for ns in SANDBOX_NS.values():
            await _ensure_namespace(session, sandbox_kube, admin, ns)
        for doc in _rbac(docs):
            if not is_worker(doc):  # the import pods' grants: the test below
                await _apply(session, sandbox_kube, admin, _for_test(doc))
        # The Roles odh-core writes or binds: it must hold what they grant.
        held = _held(await _notebook_role(SANDBOX_NS[NB]), NB)
        held += [c for ns, rules in HELD_ROLES.items() for c in _held(rules, ns)]
        assert len(held) >= 3  # the per-user Role (get on the Notebook), the bound Roles
        missing_held = [c for c in held if not await _allowed(session, sandbox_kube, admin,
                                                              _attrs(c))]
        assert missing_held == []
        missing = [c for c in CALLS if not await _allowed(session, sandbox_kube, admin,
                                                          _attrs(c))]
        missing += [n for n in NON_RESOURCE if not await _allowed(
            session, sandbox_kube, admin, {"nonResourceAttributes": {"verb": "get",
                                                                     "path": n.path}})]
        assert missing == []
        broader = [c for c in DENIED if await _allowed(session, sandbox_kube, admin,
                                                       _attrs(c))]
        assert broader == []


TEST_WORKER_SA = "odh-core-ops-rbac-worker"


async def test_import_worker_rbac_allows_the_worker_calls_and_nothing_broader(
        docs: list[dict[str, Any]], sandbox_kube: Any, tokens: dict[str, str]) -> None:
    """The Job executor pods' Role and RoleBinding, bound to a fresh account: every call the
    worker makes in the imports namespace, none of the replicas' others, nothing elsewhere."""
    admin = tokens["admin"]
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=_ssl(sandbox_kube))
                                     ) as session:
        assert not await _allowed(session, sandbox_kube, admin, _attrs(WORKER_CALLS[0]),
                                  TEST_WORKER_SA)
        await _ensure_namespace(session, sandbox_kube, admin, SANDBOX_NS[IM])
        worker = [d for d in _rbac(docs) if is_worker(d)]
        assert [d["kind"] for d in worker] == ["Role", "RoleBinding"]
        for doc in worker:
            await _apply(session, sandbox_kube, admin, _for_test(doc, TEST_WORKER_SA))
        missing = [c for c in WORKER_CALLS if not await _allowed(
            session, sandbox_kube, admin, _attrs(c), TEST_WORKER_SA)]
        assert missing == []
        broader = [c for c in WORKER_DENIED + DENIED if await _allowed(
            session, sandbox_kube, admin, _attrs(c), TEST_WORKER_SA)]
        assert broader == []
