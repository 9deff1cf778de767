"""kubectl against the sandbox over https with the written kubeconfig.

Skips only when no kubectl binary is on PATH (Debian/Ubuntu: the `kubectl` package, or any
kubectl >= 1.20 binary). Create/apply pass --validate=false: the sandbox serves no OpenAPI.
"""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest

KUBECTL = shutil.which("kubectl")
pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")

CM = """apiVersion: v1
kind: ConfigMap
metadata:
  name: {name}
  namespace: default
data:
  a: "{value}"
"""


@pytest.fixture
def kubectl(kube, tmp_path):
    env = dict(os.environ, KUBECONFIG=kube.kubeconfig, HOME=str(tmp_path))

    def run(*args: str, stdin: str | None = None, ok: bool = True) -> str:
        p = subprocess.run([KUBECTL, "--request-timeout=20s", *args], env=env, input=stdin,
                           capture_output=True, text=True, timeout=40)
        if ok:
            assert p.returncode == 0, p.stderr
        return p.stdout + p.stderr
    return run


def test_kubectl_get_and_auth(kubectl) -> None:
    out = kubectl("get", "namespaces")
    assert "NAME" in out and "STATUS" in out and "alice-project" in out
    assert "odh-dashboard-config" in kubectl("get", "odhdashboardconfigs", "-n", "opendatahub")
    assert kubectl("--context", "alice", "auth", "can-i", "list", "pods").strip() == "yes"
    assert kubectl("--context", "alice", "auth", "can-i", "list", "pods", "-n",
                   "bob-project", ok=False).strip() == "no"
    assert "Forbidden" in kubectl("--context", "alice", "get", "pods", "-n", "bob-project",
                                  ok=False)
    assert "admin" in kubectl("auth", "whoami")


def test_kubectl_create_apply_patch_logs_delete(kube, kubectl) -> None:
    kubectl("create", "--validate=false", "-f", "-", stdin=CM.format(name="kc1", value="1"))
    kubectl("apply", "--validate=false", "-f", "-", stdin=CM.format(name="kc2", value="1"))
    kubectl("apply", "--validate=false", "-f", "-", stdin=CM.format(name="kc2", value="2"))
    kubectl("apply", "--server-side", "--validate=false", "-f", "-",
            stdin=CM.format(name="kc3", value="3"))
    kubectl("patch", "configmap", "kc1", "-n", "default", "--type=merge",
            "-p", '{"data":{"b":"2"}}')
    assert kubectl("get", "configmap", "kc1", "-n", "default", "-o",
                   "jsonpath={.data.b}") == "2"
    assert kubectl("get", "configmap", "kc2", "-n", "default", "-o",
                   "jsonpath={.data.a}") == "2"
    kubectl("create", "--validate=false", "-f", "-", stdin=(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: kpod\n  namespace: default\n"
        "spec:\n  containers:\n  - name: c\n    image: x\n"))
    kube.append_log("default", "kpod", "c", "hello from the sandbox")
    assert kubectl("logs", "kpod", "-n", "default") == "hello from the sandbox\n"
    for name in ("kc1", "kc2", "kc3"):
        kubectl("delete", "configmap", name, "-n", "default")
    kubectl("delete", "pod", "kpod", "-n", "default", "--wait=false")
    assert "NotFound" in kubectl("get", "configmap", "kc1", "-n", "default", ok=False)


def test_kubectl_openshift_projects(kubectl) -> None:
    mine = kubectl("--context", "alice", "get", "projects", "-o", "name")
    assert "project.project.openshift.io/alice-project" in mine and "bob-project" not in mine
    assert "alice-project" in kubectl("--context", "alice", "get", "project", "alice-project")
    assert "Forbidden" in kubectl("--context", "alice", "get", "project", "bob-project",
                                  ok=False)
    assert kubectl("--context", "alice", "auth", "can-i", "create",
                   "projectrequests.project.openshift.io").splitlines()[0] == "yes"
    who = kubectl("--context", "bob", "get", "users.user.openshift.io", "~", "-o",
                  "jsonpath={.metadata.name}")
    assert who.strip() == "bob"
    assert "standard-csi" in kubectl("--context", "alice", "get", "storageclasses")
