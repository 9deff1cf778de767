"""The Jupyter tile's routes against the sandbox: start/stop as the user (RBAC by the service
account), env objects and Routes read as the user, allowed users (admin), names checked."""
from __future__ import annotations

import pytest

RBAC = "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}"
NB = "/apis/kubeflow.org/v1/namespaces/{ns}/notebooks"


@pytest.fixture(scope="module")
def nb_ns(admin_kube, dash_ns):
    """The module's dashboard namespace doubles as the shared notebook namespace: the seed's
    notebook RBAC (80-notebooks.yaml) bound there, and a notebook image."""
    for path, obj in (
        (f"{RBAC.format(ns=dash_ns)}/rolebindings", {
            "metadata": {"name": "odh-notebook-creators"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group",
                          "name": "system:authenticated"}],
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                        "name": "odh-notebook-creator"}}),
        (f"{RBAC.format(ns=dash_ns)}/rolebindings", {
            "metadata": {"name": "odh-core-notebooks"},
            "subjects": [{"kind": "ServiceAccount", "name": "odh-core",
                          "namespace": "opendatahub"}],
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                        "name": "odh-core-notebooks"}}),
        (f"/apis/image.openshift.io/v1/namespaces/{dash_ns}/imagestreams", {
            "metadata": {"name": "minimal", "labels": {"opendatahub.io/notebook-image": "true"}},
            "spec": {"tags": [{"name": "2024.2"}]},
            "status": {"dockerImageRepository": "registry.example/minimal"}}),
    ):
        status, body = admin_kube.sync("POST", path, obj)
        assert status == 201, body
    return dash_ns


START = {"state": "started", "imageName": "minimal", "imageTagName": "2024.2",
         "notebookSizeName": "Small", "gpus": 0,
         "envVars": {"configMap": {"FOO": "bar"}, "secrets": {"TOKEN": "t0p"}}}


async def test_start_status_stop_as_the_user(odh_server, admin_kube, nb_ns):
    resp = await odh_server.fetch("/api/notebooks", "POST", user="alice", json=START,
                                  headers={"Origin": "https://dash.example",
                                           "X-Forwarded-Host": "dash.example"})
    assert resp.status == 200, resp.text
    nb = resp.json()
    assert nb["metadata"]["name"] == "jupyter-nb-alice"
    assert nb["metadata"]["annotations"]["opendatahub.io/username"] == "alice"
    container = nb["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.example/minimal:2024.2"
    assert container["resources"]["limits"] == {"cpu": "2", "memory": "8Gi"}
    assert {"name": "TOKEN", "valueFrom": {"secretKeyRef": {
        "key": "TOKEN", "name": "jupyterhub-singleuser-profile-alice-envs"}}} in container["env"]
    # The PVC and env objects exist; the user reads hers, not bob's.
    status, pvc = await admin_kube.call(
        "GET", f"/api/v1/namespaces/{nb_ns}/persistentvolumeclaims/jupyterhub-nb-alice-pvc")
    assert status == 200 and pvc["spec"]["resources"]["requests"]["storage"] == "30Gi"
    env = await odh_server.fetch(
        f"/api/envs/secret/{nb_ns}/jupyterhub-singleuser-profile-alice-envs", user="alice")
    assert env.status == 200 and env.json()["kind"] == "Secret"
    cm = await odh_server.fetch(
        f"/api/envs/configmap/{nb_ns}/jupyterhub-singleuser-profile-alice-envs", user="alice")
    assert cm.status == 200 and cm.json()["data"] == {"FOO": "bar"}
    denied = await odh_server.fetch(
        f"/api/envs/secret/{nb_ns}/jupyterhub-singleuser-profile-alice-envs", user="bob")
    assert denied.status == 403  # the API server's answer, not odh-core's service account's
    # Read and status, as the user.
    got = await odh_server.fetch(f"/api/notebooks/{nb_ns}/jupyter-nb-alice", user="alice")
    assert got.status == 200
    assert (await odh_server.fetch(f"/api/notebooks/{nb_ns}/jupyter-nb-alice",
                                   user="bob")).status == 403
    st = await odh_server.fetch(f"/api/notebooks/{nb_ns}/jupyter-nb-alice/status", user="alice")
    assert st.status == 200 and st.json()["isRunning"] is False
    assert st.json()["notebook"]["metadata"]["name"] == "jupyter-nb-alice"
    # Start again: the same objects are updated, not duplicated.
    again = await odh_server.fetch("/api/notebooks", "POST", user="alice",
                                   json={**START, "envVars": {"configMap": {"FOO": "baz"},
                                                              "secrets": {}}})
    assert again.status == 200, again.text
    cm = await odh_server.fetch(
        f"/api/envs/configmap/{nb_ns}/jupyterhub-singleuser-profile-alice-envs", user="alice")
    assert cm.json()["data"] == {"FOO": "baz"}
    # Stop.
    resp = await odh_server.fetch("/api/notebooks", "PATCH", user="alice",
                                  json={"state": "stopped"})
    assert resp.status == 200, resp.text
    assert resp.json()["metadata"]["annotations"]["kubeflow-resource-stopped"]
    st = await odh_server.fetch(f"/api/notebooks/{nb_ns}/jupyter-nb-alice/status", user="alice")
    assert st.json()["isRunning"] is False
    # Allowed users: admin only; alice is there with her stop time, admin as Admin.
    assert (await odh_server.fetch(f"/api/status/{nb_ns}/allowedUsers",
                                   user="alice")).status == 403


async def test_another_users_notebook_needs_admin(odh_server, nb_ns):
    resp = await odh_server.fetch("/api/notebooks", "PATCH", user="bob",
                                  json={"state": "stopped", "username": "alice"})
    assert resp.status == 403
    resp = await odh_server.fetch("/api/notebooks", "POST", user="bob",
                                  json={**START, "username": "alice"})
    assert resp.status == 403


async def test_start_refuses_bad_input(odh_server, nb_ns):
    for body in ({**START, "state": "stopped"}, {**START, "imageName": "Bad_Name"},
                 {**START, "imageTagName": "../x"}, {**START, "imageName": "nope"},
                 {**START, "notebookSizeName": "Huge"}, {**START, "gpus": -1},
                 {**START, "envVars": {"secrets": {"bad name": "x"}}}):
        resp = await odh_server.fetch("/api/notebooks", "POST", user="alice", json=body)
        assert resp.status == 400, body
        assert resp.json()["message"]
    resp = await odh_server.fetch("/api/notebooks", "PATCH", user="alice",
                                  json={"state": "started"})
    assert resp.status == 400
    for path in ("/api/notebooks/Bad_NS/x", "/api/notebooks/ns/a..b/status",
                 "/api/envs/secret/ns/-x", "/api/route/ns/Bad", "/api/status/Bad_NS/allowedUsers"):
        assert (await odh_server.fetch(path, user="admin")).status == 400, path
    assert (await odh_server.fetch("/api/envs/other/ns/x", user="admin")).status == 404


async def test_route_as_the_user_and_allowed_users(odh_server, admin_kube, nb_ns):
    status, body = await admin_kube.call(
        "POST", "/apis/route.openshift.io/v1/namespaces/alice-project/routes",
        {"metadata": {"name": "nb"}, "spec": {"host": "nb.apps.example"}})
    assert status in (201, 409), body
    resp = await odh_server.fetch("/api/route/alice-project/nb", user="alice")
    assert resp.status == 200 and resp.json()["spec"]["host"] == "nb.apps.example"
    assert (await odh_server.fetch("/api/route/alice-project/nb", user="bob")).status == 403
    assert (await odh_server.fetch("/api/route/alice-project/missing",
                                   user="alice")).status == 404
    # Allowed users: the admin group's members (seed Group odh-admins) and notebook owners.
    patch = [{"op": "add", "path": "/spec/groupsConfig",
              "value": {"adminGroups": "odh-admins", "allowedGroups": "system:authenticated"}}]
    resp = await odh_server.fetch(f"/api/dashboardConfig/{nb_ns}/odh-dashboard-config",
                                  "PATCH", user="admin", json=patch)
    assert resp.status == 200, resp.text
    try:
        resp = await odh_server.fetch(f"/api/status/{nb_ns}/allowedUsers", user="admin",
                                      headers={"Cache-Control": "no-cache"})
        assert resp.status == 200, resp.text
        users = {u["username"]: u for u in resp.json()}
        assert users["admin"]["privilege"] == "Admin"
    finally:
        await odh_server.fetch(f"/api/dashboardConfig/{nb_ns}/odh-dashboard-config", "PATCH",
                               user="admin",
                               json=[{"op": "remove", "path": "/spec/groupsConfig"}])
