"""/api/cluster-settings, /api/namespaces..., /api/rolebindings... against the sandbox."""
from __future__ import annotations

import uuid

import pytest

RB = "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings"


# -- cluster settings ---------------------------------------------------------------------------
async def test_cluster_settings_read_the_config_and_defaults(odh_server):
    resp = await odh_server.fetch("/api/cluster-settings", user="alice")
    assert resp.status == 200, resp.text
    s = resp.json()
    assert s["pvcSize"] == 30                       # the module's object says 30Gi
    assert s["cullerTimeout"] == 31_536_000         # no culler ConfigMap: no culling
    assert s["userTrackingEnabled"] is False
    assert s["modelServingPlatformEnabled"] == {"kServe": False, "modelMesh": False}
    assert s["notebookTolerationSettings"] == {"enabled": False, "key": "NotebooksOnly"}


async def test_cluster_settings_put_is_admin_only_and_round_trips(odh_server, admin_kube,
                                                                  dash_ns):
    new = {"pvcSize": 40, "cullerTimeout": 3600, "userTrackingEnabled": True,
           "modelServingPlatformEnabled": {"kServe": True, "modelMesh": False},
           "notebookTolerationSettings": {"enabled": True, "key": "NotebooksOnly"}}
    resp = await odh_server.fetch("/api/cluster-settings", "PUT", user="alice", json=new)
    assert resp.status == 403
    resp = await odh_server.fetch("/api/cluster-settings", "PUT", user="admin", json=new)
    assert resp.status == 200, resp.text
    assert resp.json()["success"] is True
    got = (await odh_server.fetch("/api/cluster-settings", user="bob")).json()
    assert got == new
    # Stored where the old backend stored them.
    _, cm = await admin_kube.call(
        "GET", f"/api/v1/namespaces/{dash_ns}/configmaps/notebook-controller-culler-config")
    assert cm["data"] == {"ENABLE_CULLING": "true", "CULL_IDLE_TIME": "60",
                          "IDLENESS_CHECK_PERIOD": "1"}
    _, cfg = await admin_kube.call(
        "GET", f"/apis/opendatahub.io/v1alpha/namespaces/{dash_ns}/odhdashboardconfigs/"
        "odh-dashboard-config")
    assert cfg["spec"]["notebookController"]["pvcSize"] == "40Gi"
    assert cfg["spec"]["dashboardConfig"]["disableKServe"] is False
    # Back to the module's starting point (other tests read it).
    resp = await odh_server.fetch("/api/cluster-settings", "PUT", user="admin", json={
        "pvcSize": 30, "cullerTimeout": 31_536_000, "userTrackingEnabled": False,
        "modelServingPlatformEnabled": {"kServe": False},
        "notebookTolerationSettings": {"enabled": False, "key": "NotebooksOnly"}})
    assert resp.status == 200
    assert resp.json()["settings"]["cullerTimeout"] == 31_536_000


@pytest.mark.parametrize("body", [
    {"pvcSize": 0}, {"pvcSize": "lots"}, {"pvcSize": True}, {"cullerTimeout": 5},
    {"userTrackingEnabled": "yes"}, {"modelServingPlatformEnabled": {"kServe": 1}},
    {"notebookTolerationSettings": {"enabled": True, "key": "bad key!"}}, {"surprise": 1},
])
async def test_cluster_settings_put_validates(odh_server, body):
    resp = await odh_server.fetch("/api/cluster-settings", "PUT", user="admin", json=body)
    assert resp.status == 400, body
    assert resp.json()["message"]


# -- namespaces ---------------------------------------------------------------------------------
async def test_namespaces_list_is_per_user(odh_server):
    def names(resp):
        assert resp.status == 200, resp.text
        return {ns["metadata"]["name"] for ns in resp.json()["data"]["items"]}

    alice = names(await odh_server.fetch("/api/namespaces", user="alice"))
    assert "alice-project" in alice and "bob-project" not in alice
    bob = names(await odh_server.fetch("/api/namespaces", user="bob"))
    assert "bob-project" in bob and "alice-project" not in bob
    admin = names(await odh_server.fetch("/api/namespaces", user="admin"))
    assert {"alice-project", "bob-project"} <= admin
    assert "kube-system" not in admin  # not the dashboard's


async def test_create_and_delete_as_the_user(odh_server, admin_kube):
    name = f"made-{uuid.uuid4().hex[:8]}"
    # alice may not create namespaces, but may request a project (OpenShift's self-provisioner):
    # it is hers and carries the dashboard label, set after her own access review.
    resp = await odh_server.fetch(f"/api/namespaces/{name}-a", "POST", user="alice")
    assert resp.status == 201, resp.text
    meta = resp.json()["data"]["metadata"]
    assert meta["labels"]["opendatahub.io/dashboard"] == "true"
    assert meta["annotations"]["openshift.io/requester"] == "alice"
    status, _ = await admin_kube.call("DELETE", f"/api/v1/namespaces/{name}-a")
    assert status == 200
    resp = await odh_server.fetch(f"/api/namespaces/{name}", "POST", user="admin",
                                  json={"displayName": "Made here"})
    assert resp.status == 201, resp.text
    meta = resp.json()["data"]["metadata"]
    assert meta["labels"]["opendatahub.io/dashboard"] == "true"
    assert meta["annotations"]["openshift.io/display-name"] == "Made here"
    assert meta["annotations"]["openshift.io/requester"] == "admin"
    status, _ = await admin_kube.call("GET", f"/api/v1/namespaces/{name}")
    assert status == 200
    # alice cannot delete bob's project: the API server's 403 comes through.
    resp = await odh_server.fetch("/api/namespaces/bob-project", "DELETE", user="alice")
    assert resp.status == 403 and "bob-project" in resp.json()["message"]
    resp = await odh_server.fetch(f"/api/namespaces/{name}", "DELETE", user="admin")
    assert resp.status == 200, resp.text
    status, _ = await admin_kube.call("GET", f"/api/v1/namespaces/{name}")
    assert status == 404


@pytest.mark.parametrize("name", ["Bad_Name", "-dash", "a" * 64, "kube-thing", "openshift-x"])
async def test_namespace_names_are_checked(odh_server, name):
    resp = await odh_server.fetch(f"/api/namespaces/{name}", "POST", user="admin")
    assert resp.status == 400


# -- /api/namespaces/:name/:context ---------------------------------------------------------------
@pytest.fixture(scope="module")
def alice_ns(admin_kube, make_namespace):
    """A project of alice's own, to label without touching the seed's."""
    ns = make_namespace("alice-ctx", annotations={"openshift.io/requester": "alice"})
    status, body = admin_kube.sync("POST", RB.format(ns=ns), {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "admin-alice"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice"}],
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                    "name": "admin"}})
    assert status == 201, body
    yield ns
    admin_kube.sync("DELETE", f"/api/v1/namespaces/{ns}")


async def test_context_labels_the_project(odh_server, admin_kube, alice_ns):
    async def meta():
        _, ns = await admin_kube.call("GET", f"/api/v1/namespaces/{alice_ns}")
        return ns["metadata"].get("labels") or {}, ns["metadata"].get("annotations") or {}

    for ctx, label, annotation in (("0", ("opendatahub.io/dashboard", "true"), None),
                                   ("1", ("modelmesh-enabled", "false"), None),
                                   ("2", ("modelmesh-enabled", "false"),
                                    ("opendatahub.io/nim-support", "true"))):
        resp = await odh_server.fetch(f"/api/namespaces/{alice_ns}/{ctx}", user="alice")
        assert resp.status == 200, resp.text
        assert resp.json() == {"applied": True}
        labels, annotations = await meta()
        assert labels[label[0]] == label[1]
        if annotation:
            assert annotations[annotation[0]] == annotation[1]
    resp = await odh_server.fetch(f"/api/namespaces/{alice_ns}/3", user="alice")
    assert resp.json() == {"applied": True}
    labels, annotations = await meta()
    assert "modelmesh-enabled" not in labels and "opendatahub.io/nim-support" not in annotations
    assert labels["opendatahub.io/dashboard"] == "true"


async def test_context_refusals(odh_server, alice_ns):
    assert (await odh_server.fetch("/api/namespaces/kube-system/0", user="admin")).status == 400
    assert (await odh_server.fetch("/api/namespaces/openshift-ai/1", user="admin")).status == 400
    assert (await odh_server.fetch(f"/api/namespaces/{alice_ns}/9", user="alice")).status == 400
    # bob may not update alice's project: his own access review says no.
    resp = await odh_server.fetch(f"/api/namespaces/{alice_ns}/0", user="bob")
    assert resp.status == 403


# -- role bindings --------------------------------------------------------------------------------
async def test_rolebindings_as_the_user(odh_server, alice_ns):
    rb = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
          "metadata": {"name": "bob-view", "namespace": alice_ns},
          "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "bob"}],
          "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                      "name": "view"}}
    resp = await odh_server.fetch("/api/rolebindings", "POST", user="bob", json=rb)
    assert resp.status == 403  # bob has no rights in alice's project
    resp = await odh_server.fetch("/api/rolebindings", "POST", user="alice", json=rb)
    assert resp.status == 200, resp.text
    assert resp.json()["metadata"]["name"] == "bob-view"   # the raw object, old shape
    resp = await odh_server.fetch(f"/api/rolebindings/{alice_ns}/bob-view", user="alice")
    assert resp.status == 200 and resp.json()["roleRef"]["name"] == "view"
    resp = await odh_server.fetch(f"/api/rolebindings/{alice_ns}/nope", user="alice")
    assert resp.status == 404
    resp = await odh_server.fetch("/api/rolebindings/bob-project/admin-bob", user="alice")
    assert resp.status == 403
    resp = await odh_server.fetch(f"/api/rolebindings/{alice_ns}/Bad_Name", user="alice")
    assert resp.status == 400
    bad = {**rb, "metadata": {"name": "x", "namespace": "../etc"}}
    resp = await odh_server.fetch("/api/rolebindings", "POST", user="alice", json=bad)
    assert resp.status == 400
