"""CRUD semantics on core and custom resources through the official sync client."""
from __future__ import annotations

import json

import pytest
from kubernetes import client

from .conftest import cm


def _status(e: client.ApiException) -> dict:
    body = json.loads(e.body)
    assert body["kind"] == "Status" and body["apiVersion"] == "v1"
    assert body["metadata"] == {} and body["status"] == "Failure"
    assert body["code"] == e.status
    return body


def test_configmap_lifecycle(core: client.CoreV1Api, ns: str) -> None:
    created = core.create_namespaced_config_map(ns, cm("one", a="1"))
    meta = created.metadata
    assert meta.uid and meta.creation_timestamp and int(meta.resource_version) > 0
    got = core.read_namespaced_config_map("one", ns)
    assert got.data == {"a": "1"} and got.metadata.uid == meta.uid
    got.data["b"] = "2"
    updated = core.replace_namespaced_config_map("one", ns, got)
    assert int(updated.metadata.resource_version) > int(meta.resource_version)
    assert updated.metadata.uid == meta.uid
    status = core.delete_namespaced_config_map("one", ns)
    assert status["status"] == "Success" and status["details"]["name"] == "one"
    with pytest.raises(client.ApiException) as e:
        core.read_namespaced_config_map("one", ns)
    body = _status(e.value)
    assert e.value.status == 404 and body["reason"] == "NotFound"
    assert body["message"] == 'configmaps "one" not found'
    assert body["details"] == {"name": "one", "kind": "configmaps"}


def test_generate_name(core: client.CoreV1Api, ns: str) -> None:
    obj = cm("")
    obj["metadata"] = {"generateName": "gen-"}
    a = core.create_namespaced_config_map(ns, obj)
    b = core.create_namespaced_config_map(ns, obj)
    assert a.metadata.name.startswith("gen-") and len(a.metadata.name) == 9
    assert a.metadata.name != b.metadata.name


def test_already_exists_and_conflict(core: client.CoreV1Api, ns: str) -> None:
    core.create_namespaced_config_map(ns, cm("dup"))
    with pytest.raises(client.ApiException) as e:
        core.create_namespaced_config_map(ns, cm("dup"))
    assert e.value.status == 409 and _status(e.value)["reason"] == "AlreadyExists"
    first = core.read_namespaced_config_map("dup", ns)
    first.data = {"x": "1"}
    core.replace_namespaced_config_map("dup", ns, first)
    first.data = {"x": "stale"}
    with pytest.raises(client.ApiException) as e:
        core.replace_namespaced_config_map("dup", ns, first)  # stale resourceVersion
    body = _status(e.value)
    assert e.value.status == 409 and body["reason"] == "Conflict"
    assert "the object has been modified" in body["message"]
    assert core.read_namespaced_config_map("dup", ns).data == {"x": "1"}


def test_noop_update_keeps_resource_version(core: client.CoreV1Api, ns: str) -> None:
    first = core.create_namespaced_config_map(ns, cm("same", a="1"))
    again = core.replace_namespaced_config_map("same", ns, first)
    assert again.metadata.resource_version == first.metadata.resource_version


def test_invalid_and_bad_request(core: client.CoreV1Api, ns: str) -> None:
    with pytest.raises(client.ApiException) as e:
        core.create_namespaced_config_map(ns, cm("Bad_Name"))
    body = _status(e.value)
    assert e.value.status == 422 and body["reason"] == "Invalid"
    assert body["details"]["causes"][0]["field"] == "metadata.name"
    wrong_ns = cm("x")
    wrong_ns["metadata"]["namespace"] = "default"
    with pytest.raises(client.ApiException) as e:
        core.create_namespaced_config_map(ns, wrong_ns)
    assert e.value.status == 400 and _status(e.value)["reason"] == "BadRequest"
    with pytest.raises(client.ApiException) as e:
        core.create_namespaced_config_map("no-such-namespace", cm("x"))
    assert e.value.status == 404
    assert _status(e.value)["message"] == 'namespaces "no-such-namespace" not found'


def test_dry_run_does_not_store(core: client.CoreV1Api, ns: str) -> None:
    out = core.create_namespaced_config_map(ns, cm("dry"), dry_run="All")
    assert out.metadata.name == "dry"
    with pytest.raises(client.ApiException) as e:
        core.read_namespaced_config_map("dry", ns)
    assert e.value.status == 404


def test_namespace_deletion_removes_objects(core: client.CoreV1Api) -> None:
    core.create_namespace({"metadata": {"name": "doomed-ns"}})
    core.create_namespaced_config_map("doomed-ns", cm("c"))
    core.create_namespaced_secret("doomed-ns", {"metadata": {"name": "s"},
                                                "stringData": {"k": "v"}})
    gone = core.delete_namespace("doomed-ns")
    assert gone["status"]["phase"] == "Terminating"
    assert not [c for c in core.list_config_map_for_all_namespaces().items
                if c.metadata.namespace == "doomed-ns"]
    with pytest.raises(client.ApiException) as e:
        core.read_namespace("doomed-ns")
    assert e.value.status == 404


def test_secret_string_data_and_pod_defaults(core: client.CoreV1Api, ns: str) -> None:
    s = core.create_namespaced_secret(ns, {"metadata": {"name": "s"}, "stringData": {"k": "v"}})
    assert s.data == {"k": "dg=="} and s.type == "Opaque"
    pod = core.create_namespaced_pod(ns, {"metadata": {"name": "p"}, "spec": {
        "containers": [{"name": "c", "image": "busybox"}]}, "status": {"phase": "Running"}})
    assert pod.status.phase == "Pending"  # status is the kubelet's, not the client's
    pod.status.phase = "Running"
    assert core.replace_namespaced_pod_status("p", ns, pod).status.phase == "Running"
    # The main resource ignores status changes.
    pod = core.read_namespaced_pod("p", ns)
    pod.status.phase = "Failed"
    pod.metadata.labels = {"a": "b"}
    after = core.replace_namespaced_pod("p", ns, pod)
    assert after.status.phase == "Running" and after.metadata.labels == {"a": "b"}


def test_delete_preconditions_and_finalizers(core: client.CoreV1Api, ns: str) -> None:
    core.create_namespaced_config_map(ns, cm("pre"))
    with pytest.raises(client.ApiException) as e:
        core.delete_namespaced_config_map("pre", ns, body=client.V1DeleteOptions(
            preconditions=client.V1Preconditions(resource_version="1")))
    assert e.value.status == 409
    fin = cm("fin")
    fin["metadata"]["finalizers"] = ["example.com/hold"]
    core.create_namespaced_config_map(ns, fin)
    core.delete_namespaced_config_map("fin", ns)
    held = core.read_namespaced_config_map("fin", ns)
    assert held.metadata.deletion_timestamp is not None
    core.patch_namespaced_config_map("fin", ns, {"metadata": {"finalizers": None}})
    with pytest.raises(client.ApiException) as e:
        core.read_namespaced_config_map("fin", ns)
    assert e.value.status == 404


def test_custom_resources_seeded_and_crud(custom: client.CustomObjectsApi, ns: str) -> None:
    cfg = custom.get_namespaced_custom_object("opendatahub.io", "v1alpha", "opendatahub",
                                              "odhdashboardconfigs", "odh-dashboard-config")
    assert cfg["kind"] == "OdhDashboardConfig" and cfg["metadata"]["generation"] == 1
    auth = custom.get_cluster_custom_object("services.platform.opendatahub.io", "v1alpha1",
                                            "auths", "auth")
    assert "odh-admins" in auth["spec"]["adminGroups"]
    nb = {"apiVersion": "kubeflow.org/v1", "kind": "Notebook",
          "metadata": {"name": "nb"}, "spec": {"template": {"spec": {"containers": []}}},
          "status": {"readyReplicas": 1}}
    created = custom.create_namespaced_custom_object("kubeflow.org", "v1", ns, "notebooks", nb)
    assert "status" not in created  # status subresource: ignored on create
    created["spec"]["replicas"] = 1
    upd = custom.replace_namespaced_custom_object("kubeflow.org", "v1", ns, "notebooks", "nb",
                                                  created)
    assert upd["metadata"]["generation"] == 2
    st = custom.patch_namespaced_custom_object_status(
        "kubeflow.org", "v1", ns, "notebooks", "nb", {"status": {"readyReplicas": 1}})
    assert st["status"] == {"readyReplicas": 1} and st["metadata"]["generation"] == 2
    # Another served version of the same CRD sees the same object.
    old = custom.get_namespaced_custom_object("kubeflow.org", "v1beta1", ns, "notebooks", "nb")
    assert old["apiVersion"] == "kubeflow.org/v1beta1" and old["spec"]["replicas"] == 1
    listed = custom.list_cluster_custom_object("kubeflow.org", "v1", "notebooks")
    assert listed["kind"] == "NotebookList" and any(
        i["metadata"]["name"] == "nb" for i in listed["items"])
    deleted = custom.delete_namespaced_custom_object("kubeflow.org", "v1", ns, "notebooks", "nb")
    assert deleted["metadata"]["name"] == "nb"


def test_crd_created_through_the_api(api_client, custom: client.CustomObjectsApi) -> None:
    ext = client.ApiextensionsV1Api(api_client("admin"))
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": "widgets.example.com"},
           "spec": {"group": "example.com", "scope": "Cluster",
                    "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                    "versions": [{"name": "v1", "served": True, "storage": True,
                                  "schema": {"openAPIV3Schema": {"type": "object"}}}]}}
    ext.create_custom_resource_definition(crd)
    try:
        custom.create_cluster_custom_object("example.com", "v1", "widgets", {
            "apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}})
        assert custom.get_cluster_custom_object("example.com", "v1", "widgets", "w")[
            "metadata"]["name"] == "w"
    finally:
        ext.delete_custom_resource_definition("widgets.example.com")
    with pytest.raises(client.ApiException) as e:
        custom.get_cluster_custom_object("example.com", "v1", "widgets", "w")
    assert e.value.status == 404 and e.value.body.startswith("404 page not found")
    assert e.value.headers["Content-Type"].startswith("text/plain")
