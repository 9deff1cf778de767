"""Every `kubectl create <generator>` creates what kubectl means.

kubectl's typed clients send these objects as protobuf and ask for protobuf back; the sandbox
decodes them through the published field table and keeps JSON. The check: what the server
answers (`-o json`, decoded by kubectl from the server's protobuf answer) holds exactly what
the same command's `--dry-run=client -o json` built, and adds only server-set fields.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from typing import Any

import pytest

KUBECTL = shutil.which("kubectl")
pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")

# Fields a real API server sets on create, by kind (metadata.* and status for all kinds).
SERVER_SET_META = {"uid", "resourceVersion", "creationTimestamp", "generation", "managedFields"}
SERVER_SET = {"Namespace": {"spec", "metadata.labels"}, "Service": {"spec.clusterIP", "spec.clusterIPs"},
              "Secret": {"type"}, "Pod": {"spec.serviceAccountName"}}


@pytest.fixture
def kubectl(kube, tmp_path):
    env = dict(os.environ, KUBECONFIG=kube.kubeconfig, HOME=str(tmp_path))

    def run(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        p = subprocess.run([KUBECTL, "--request-timeout=20s", *args], env=env,
                           capture_output=True, text=True, timeout=40)
        if ok:
            assert p.returncode == 0, p.stderr
        return p
    return run


def _extra(expected: Any, actual: Any, path: str, out: list[str]) -> None:
    """Paths where actual differs from expected: what expected holds must be there, equal."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        for k, v in expected.items():
            if v is None and k not in actual:
                continue
            _extra(v, actual.get(k), f"{path}.{k}" if path else k, out)
        for k in actual.keys() - expected.keys():
            out.append(f"{path}.{k}" if path else k)
    elif expected != actual:
        out.append(f"{path} ({expected!r} != {actual!r})")


def _with(cmd: list[str], *flags: str) -> list[str]:
    """Flags go before `--`: what follows it is the container's command."""
    i = cmd.index("--") if "--" in cmd else len(cmd)
    return [*cmd[:i], *flags, *cmd[i:]]


def generators(ns: str, suffix: str) -> list[list[str]]:
    n = f"-n={ns}"
    return [
        ["create", "namespace", f"gen-{suffix}"],
        ["create", "configmap", "cm", n, "--from-literal=a=1", "--from-literal=b=two"],
        ["create", "secret", "generic", "s", n, "--from-literal=k=v"],
        ["create", "secret", "docker-registry", "reg", n, "--docker-server=r.example",
         "--docker-username=u", "--docker-password=p"],
        ["create", "serviceaccount", "sa", n],
        ["create", "deployment", "d", n, "--image=nginx:1.27", "--replicas=2", "--port=80"],
        ["create", "deployment", "zero", n, "--image=nginx", "--replicas=0"],
        ["create", "job", "j", n, "--image=busybox", "--", "echo", "hi"],
        ["create", "cronjob", "cj", n, "--image=busybox", "--schedule=*/5 * * * *",
         "--", "date"],
        ["create", "service", "clusterip", "svc", n, "--tcp=80:8080"],
        ["create", "service", "nodeport", "np", n, "--tcp=443:8443", "--node-port=30080"],
        ["create", "role", "r", n, "--verb=get,list", "--resource=pods,configmaps"],
        ["create", "rolebinding", "rb", n, "--role=r", "--user=alice",
         f"--serviceaccount={ns}:sa"],
        ["create", "clusterrole", f"cr-{suffix}", "--verb=get", "--resource=configmaps"],
        ["create", "clusterrole", f"cra-{suffix}",
         "--aggregation-rule=rbac.example/aggregate=true"],
        ["create", "clusterrolebinding", f"crb-{suffix}", f"--clusterrole=cr-{suffix}",
         "--group=team"],
        ["create", "quota", "q", n, "--hard=pods=10,requests.cpu=2,limits.memory=1Gi",
         "--scopes=NotTerminating"],
        ["create", "priorityclass", f"pc-{suffix}", "--value=1000", "--description=gen",
         "--preemption-policy=Never"],
        ["create", "poddisruptionbudget", "pdb", n, "--selector=app=x", "--min-available=50%"],
        ["create", "ingress", "ing", n, "--class=default",
         "--rule=foo.example/bar*=svc:8080,tls=foo-tls", "--annotation=a.example/b=c"],
        ["run", "p", n, "--image=busybox", "--restart=Never", "--labels=app=p",
         "--env=A=1", "--port=8080"],
        ["create", "job", "from-cj", n, "--from=cronjob/cj"],
    ]


def test_every_generator_creates_what_kubectl_means(kubectl) -> None:
    suffix = uuid.uuid4().hex[:8]
    ns = f"gen-{suffix}"
    try:
        for cmd in generators(ns, suffix):
            expected = json.loads(kubectl(*_with(cmd, "--dry-run=client", "-o=json")).stdout)
            actual = json.loads(kubectl(*_with(cmd, "-o=json")).stdout)
            kind = expected["kind"]
            diffs: list[str] = []
            _extra({k: v for k, v in expected.items() if k != "status"},
                   {k: v for k, v in actual.items() if k != "status"}, "", diffs)
            allowed = {f"metadata.{f}" for f in SERVER_SET_META} | SERVER_SET.get(kind, set())
            assert [d for d in diffs if d.split(" ")[0] not in allowed
                    and not any(d.startswith(a + ".") for a in allowed)] == [], cmd
            assert actual["metadata"]["uid"] and actual["metadata"]["resourceVersion"]
            # What a later read sees is what create answered.
            got = json.loads(kubectl("get", kind.lower(), actual["metadata"]["name"],
                                     *([f"-n={ns}"] if "namespace" in actual["metadata"]
                                       else []), "-o", "json").stdout)
            assert got["metadata"]["uid"] == actual["metadata"]["uid"]
    finally:
        for name in (f"cr-{suffix}", f"cra-{suffix}", f"crb-{suffix}", f"pc-{suffix}"):
            kind = {"cr": "clusterrole", "cra": "clusterrole", "crb": "clusterrolebinding",
                    "pc": "priorityclass"}[name.split("-")[0]]
            kubectl("delete", kind, name, "--ignore-not-found", ok=False)
        kubectl("delete", "namespace", ns, "--wait=false", ok=False)


def test_a_protobuf_body_of_a_kind_without_a_table_is_a_clear_415(kube) -> None:
    import urllib.error
    import urllib.request

    from odh_sandbox.kube.protobuf import MAGIC, _enc_bytes

    tm = _enc_bytes(1, b"v1") + _enc_bytes(2, b"PersistentVolumeClaim")
    body = MAGIC + _enc_bytes(1, tm) + _enc_bytes(2, b"")
    req = urllib.request.Request(
        kube.http_url + "/api/v1/namespaces/default/persistentvolumeclaims", data=body,
        method="POST", headers={"Authorization": f"Bearer {kube.token('admin')}",
                                "Content-Type": "application/vnd.kubernetes.protobuf"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req)
    assert e.value.code == 415
    st = json.loads(e.value.read())
    assert st["reason"] == "UnsupportedMediaType" and "PersistentVolumeClaim" in st["message"]


def test_typed_commands_beyond_create(kubectl) -> None:
    """Other commands whose typed clients speak protobuf: token requests, the scale
    subresource, expose."""
    ns = f"typed-{uuid.uuid4().hex[:8]}"
    n = f"-n={ns}"
    kubectl("create", "namespace", ns)
    try:
        kubectl("create", "serviceaccount", "robot", n)
        token = kubectl("create", "token", "robot", n, "--duration=10m").stdout.strip()
        who = json.loads(kubectl("auth", "whoami", f"--token={token}", "-o", "json").stdout)
        assert who["status"]["userInfo"]["username"] == f"system:serviceaccount:{ns}:robot"
        kubectl("create", "deployment", "d", n, "--image=nginx", "--port=80")
        assert "scaled" in kubectl("scale", "deployment", "d", n, "--replicas=3").stdout
        assert kubectl("get", "deployment", "d", n, "-o",
                       "jsonpath={.spec.replicas}").stdout == "3"
        stale = kubectl("scale", "deployment", "d", n, "--replicas=5", "--current-replicas=2",
                        ok=False)
        assert stale.returncode != 0 and "Expected replicas to be 2, was 3" in stale.stderr
        kubectl("expose", "deployment", "d", n, "--port=8080", "--target-port=80")
        svc = json.loads(kubectl("get", "service", "d", n, "-o", "json").stdout)
        assert svc["spec"]["selector"] == {"app": "d"}
        assert svc["spec"]["ports"][0]["targetPort"] == 80
    finally:
        kubectl("delete", "namespace", ns, "--wait=false", ok=False)
