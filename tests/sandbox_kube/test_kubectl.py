"""kubectl against the sandbox over https with the written kubeconfig.

Skips only when no kubectl binary is on PATH (Debian/Ubuntu: the `kubectl` package, or any
kubectl >= 1.20 binary). Nothing passes --validate=false: kubectl validates against the
sandbox's /openapi documents, as it does against a real cluster.
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
    kubectl("create", "-f", "-", stdin=CM.format(name="kc1", value="1"))
    kubectl("apply", "-f", "-", stdin=CM.format(name="kc2", value="1"))
    kubectl("apply", "-f", "-", stdin=CM.format(name="kc2", value="2"))
    kubectl("apply", "--server-side", "-f", "-",
            stdin=CM.format(name="kc3", value="3"))
    kubectl("patch", "configmap", "kc1", "-n", "default", "--type=merge",
            "-p", '{"data":{"b":"2"}}')
    assert kubectl("get", "configmap", "kc1", "-n", "default", "-o",
                   "jsonpath={.data.b}") == "2"
    assert kubectl("get", "configmap", "kc2", "-n", "default", "-o",
                   "jsonpath={.data.a}") == "2"
    kubectl("create", "-f", "-", stdin=(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: kpod\n  namespace: default\n"
        "spec:\n  containers:\n  - name: c\n    image: x\n"))
    kube.append_log("default", "kpod", "c", "hello from the sandbox")
    assert kubectl("logs", "kpod", "-n", "default") == "hello from the sandbox\n"
    for name in ("kc1", "kc2", "kc3"):
        kubectl("delete", "configmap", name, "-n", "default")
    kubectl("delete", "pod", "kpod", "-n", "default", "--wait=false")
    assert "NotFound" in kubectl("get", "configmap", "kc1", "-n", "default", ok=False)


CRD_AND_CRS = """apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: gadgets, singular: gadget, kind: Gadget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        description: A Gadget is a thing with a size.
        properties:
          spec:
            type: object
            properties:
              size: {type: integer, description: How big the gadget is.}
              color: {type: string, enum: [red, blue]}
              extra: {type: object, x-kubernetes-preserve-unknown-fields: true}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: multi-cm, namespace: default}
data: {a: "1"}
---
apiVersion: example.com/v1
kind: Gadget
metadata: {name: g1, namespace: default}
spec: {size: 3, color: red, extra: {anything: [1, 2]}}
"""


def test_apply_validates_a_manifest_of_crds_and_crs(kube, kubectl) -> None:
    try:
        # As against a real cluster: the CR cannot be mapped before its CRD exists ...
        out = kubectl("apply", "-f", "-", stdin=CRD_AND_CRS, ok=False)
        assert "gadgets.example.com created" in out and "ensure CRDs are installed" in out
        # ... and the same manifest applies, validated, once it does.
        out = kubectl("apply", "-f", "-", stdin=CRD_AND_CRS)
        assert "gadget.example.com/g1 created" in out
        assert "configmap/multi-cm unchanged" in out
        assert kubectl("get", "gadget", "g1", "-n", "default", "-o",
                       "jsonpath={.spec.extra.anything}") == "[1,2]"
        # Validation is the server's (fieldValidation=Strict), for CRs and built-ins alike.
        out = kubectl("apply", "-f", "-", ok=False, stdin=CRD_AND_CRS.split("---")[2]
                      .replace("color: red", "colour: red"))
        assert 'strict decoding error: unknown field "spec.colour"' in out
        out = kubectl("apply", "-f", "-", ok=False, stdin=CM.format(name="kc9", value="1")
                      + "spec: {}\n")
        assert 'unknown field "spec"' in out
        out = kubectl("apply", "-f", "-", ok=False, stdin=CRD_AND_CRS.split("---")[2]
                      .replace("size: 3", "size: three"))
        assert "spec.size in body must be of type integer" in out and "Invalid" in out
        out = kubectl("apply", "-f", "-", ok=False, stdin=CRD_AND_CRS.split("---")[2]
                      .replace("color: red", "color: green"))
        assert 'Unsupported value: "green"' in out
        # Without validation, unknown fields are pruned as a structural schema prunes them.
        kubectl("apply", "--validate=false", "-f", "-", stdin=CRD_AND_CRS.split("---")[2]
                .replace("color: red", "color: blue, colour: red"))
        spec = kubectl("get", "gadget", "g1", "-n", "default", "-o", "jsonpath={.spec}")
        assert '"color":"blue"' in spec and "colour" not in spec
        # A rerun changes nothing, and diff agrees.
        assert "unchanged" in kubectl("apply", "-f", "-", stdin=CRD_AND_CRS.split("---")[1])
    finally:
        kubectl("delete", "crd", "gadgets.example.com", "--ignore-not-found", ok=False)
        kubectl("delete", "configmap", "multi-cm", "-n", "default", "--ignore-not-found",
                ok=False)


def test_explain_built_in_and_crd_fields(kubectl) -> None:
    out = kubectl("explain", "configmap.data")
    assert "KIND:       ConfigMap" in out and "FIELD: data <map[string]string>" in out
    assert "Data contains the configuration data." in out
    out = kubectl("explain", "deployment.spec.template.spec.containers.image")
    assert "GROUP:      apps" in out and "Container image name." in out
    try:
        kubectl("apply", "-f", "-", stdin=CRD_AND_CRS.split("---")[0])
        out = kubectl("explain", "gadgets.spec.size")
        assert "KIND:       Gadget" in out and "How big the gadget is." in out
        assert "<integer>" in out
        assert "does not exist" in kubectl("explain", "gadgets.spec.nope", ok=False)
    finally:
        kubectl("delete", "crd", "gadgets.example.com", "--ignore-not-found", ok=False)


def test_server_side_apply_conflicts_and_force(kubectl) -> None:
    one, two = CM.format(name="ssa", value="1"), CM.format(name="ssa", value="2")
    try:
        kubectl("apply", "--server-side", "-f", "-", stdin=one)
        out = kubectl("apply", "--server-side", "--field-manager=other", "-f", "-",
                      stdin=two, ok=False)
        assert 'Apply failed with 1 conflict: conflict with "kubectl" using v1: .data.a' in out
        assert kubectl("get", "cm", "ssa", "-n", "default", "-o",
                       "jsonpath={.data.a}") == "1"
        # Applying the same value co-owns the field: no conflict.
        kubectl("apply", "--server-side", "--field-manager=other", "-f", "-", stdin=one)
        kubectl("apply", "--server-side", "--field-manager=other", "--force-conflicts",
                "-f", "-", stdin=two)
        got = kubectl("get", "cm", "ssa", "-n", "default", "-o",
                      "jsonpath={.data.a} {.metadata.managedFields[*].manager}")
        assert got == "2 other"
        # The old owner now conflicts in turn.
        assert "conflict with \"other\"" in kubectl("apply", "--server-side", "-f", "-",
                                                    stdin=one, ok=False)
    finally:
        kubectl("delete", "configmap", "ssa", "-n", "default", "--ignore-not-found", ok=False)


def test_container_streams_answer_a_status_and_the_ray_head_has_a_log(kubectl) -> None:
    pod = ["-n", "alice-project", "raycluster-demo-head"]
    out = kubectl("exec", *pod, "--", "ls", ok=False)
    assert "BadRequest" in out and "runs no containers" in out
    assert "runs no containers" in kubectl("attach", *pod, ok=False)
    assert "runs no containers" in kubectl("port-forward", "-n", "alice-project",
                                           "pod/raycluster-demo-head", "18265:8265", ok=False)
    assert "NotFound" in kubectl("exec", "-n", "alice-project", "nope", "--", "ls", ok=False)
    log = kubectl("logs", *pod)
    assert "Ray runtime started." in log and "ray start --address=" in log


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
