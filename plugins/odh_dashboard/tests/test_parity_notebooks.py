"""The Jupyter tile's routes against the sandbox: the service account acts on the caller's own
objects only (names from the exact username, owner annotation checked), plain users hold no
rights in the notebook namespace, other names are read as the caller, allowed users (admin),
names checked; squatting and case collisions (issue 18, item 3)."""
from __future__ import annotations

import asyncio

import pytest

from odh_dashboard.notebook_names import names_for, user_key, username_translate
from odh_dashboard.tests.conftest import AdminKube

RBAC = "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}"
NB = "/apis/kubeflow.org/v1/namespaces/{ns}/notebooks"


@pytest.fixture(scope="module")
def nb_ns(admin_kube, dash_ns):
    """The module's dashboard namespace doubles as the shared notebook namespace: the seed's
    notebook RBAC for odh-core (80-notebooks.yaml) bound there - none for users - and a
    notebook image."""
    for path, obj in (
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


def as_user(sandbox_kube, user: str) -> AdminKube:
    """Direct calls to the sandbox API server with a seed user's token."""
    kube = AdminKube(sandbox_kube)
    kube.token = sandbox_kube.token(user)
    return kube


def test_names_are_injective_where_the_old_translation_was_not():
    assert user_key("alice") == "alice" == username_translate("alice")
    assert user_key("alice@example.com") == "alice-40example-2ecom"  # unchanged: no collision
    assert user_key("kube:admin") == "kube-3aadmin"
    upper, lower = user_key("Alice"), user_key("alice")
    assert upper != lower and upper.startswith("alice--") and len(upper) == len("alice--") + 12
    assert user_key("ALICE") not in (upper, lower)
    # The old translation's slip: "~" was escaped as the code of DEL.
    assert username_translate("a~") == username_translate("a\x7f")
    assert user_key("a~") != user_key("a\x7f")
    # A suffixed key never equals an unsuffixed one: the old translation never writes "--".
    assert "--" not in username_translate("a-b--c") and user_key("a-b--c") == "a-2db-2d-2dc"
    n = names_for("Alice")
    assert n.resolve("jupyter-nb-alice", "notebook") == n.notebook == f"jupyter-nb-{upper}"
    assert n.resolve("jupyterhub-singleuser-profile-alice-envs", "env") == n.env
    assert n.resolve("jupyterhub-singleuser-profile-alice-envs", "notebook") is None
    assert n.resolve("jupyter-nb-bob", "notebook") is None and n.user == "alice"


async def test_plain_users_hold_no_rights_in_the_notebook_namespace(sandbox_kube, nb_ns):
    alice = as_user(sandbox_kube, "alice")
    for path, obj in ((NB.format(ns=nb_ns), {"metadata": {"name": "jupyter-nb-bob"}}),
                      (f"/api/v1/namespaces/{nb_ns}/configmaps", {"metadata": {"name": "x"}}),
                      (f"/api/v1/namespaces/{nb_ns}/secrets", {"metadata": {"name": "x"}})):
        status, _ = await alice.call("POST", path, obj)
        assert status == 403, path
    status, _ = await alice.call("GET", f"/api/v1/namespaces/{nb_ns}/secrets")
    assert status == 403


async def test_squatted_names_are_never_adopted(odh_server, admin_kube, sandbox_kube, nb_ns):
    """A deployment that still lets users create in the notebook namespace (the old grant):
    alice prepares bob's Notebook and PVC; bob's start must not merge into them."""
    grant = {"metadata": {"name": "old-creators"},
             "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                           "name": "alice"}],
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                         "name": "edit"}}
    status, body = await admin_kube.call("POST", f"{RBAC.format(ns=nb_ns)}/rolebindings", grant)
    assert status == 201, body
    alice = as_user(sandbox_kube, "alice")
    try:
        trap = {"metadata": {"name": "jupyter-nb-bob", "annotations": {
                    "opendatahub.io/username": "alice"}},
                "spec": {"template": {"spec": {"containers": [{"name": "x", "image": "evil"}]}}}}
        assert (await alice.call("POST", NB.format(ns=nb_ns), trap))[0] == 201
        pvc = {"metadata": {"name": "jupyterhub-nb-bob-pvc"},
               "spec": {"accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": "1Gi"}}}}
        assert (await alice.call("POST", f"/api/v1/namespaces/{nb_ns}/persistentvolumeclaims",
                                 pvc))[0] == 201
        resp = await odh_server.fetch("/api/notebooks", "POST", user="bob", json=START)
        assert resp.status == 409, resp.text
        assert "does not belong to 'bob'" in resp.json()["message"]
        # Nothing of bob's was written next to her objects, and hers are untouched.
        for path in (f"/api/v1/namespaces/{nb_ns}/secrets/jupyterhub-singleuser-profile-bob-envs",
                     f"{RBAC.format(ns=nb_ns)}/roles/jupyter-nb-bob-notebook-view"):
            assert (await admin_kube.call("GET", path))[0] == 404, path
        _, nb = await admin_kube.call("GET", f"{NB.format(ns=nb_ns)}/jupyter-nb-bob")
        assert nb["spec"]["template"]["spec"]["containers"][0]["image"] == "evil"
        # Reads of "his" notebook refuse her object too, rather than show it as his.
        st = await odh_server.fetch(f"/api/notebooks/{nb_ns}/jupyter-nb-bob/status", user="bob")
        assert st.status == 409
        # Without the forged Notebook, the PVC she left is still refused.
        await admin_kube.call("DELETE", f"{NB.format(ns=nb_ns)}/jupyter-nb-bob")
        resp = await odh_server.fetch("/api/notebooks", "POST", user="bob", json=START)
        assert resp.status == 409 and "PersistentVolumeClaim" in resp.json()["message"]
    finally:
        await admin_kube.call("DELETE", f"{RBAC.format(ns=nb_ns)}/rolebindings/old-creators")
        await admin_kube.call("DELETE", f"{NB.format(ns=nb_ns)}/jupyter-nb-bob")
        await admin_kube.call(
            "DELETE", f"/api/v1/namespaces/{nb_ns}/persistentvolumeclaims/jupyterhub-nb-bob-pvc")


async def test_case_variants_get_distinct_objects(odh_server, admin_kube, sandbox_kube, nb_ns):
    from odh_sandbox.kube.rbac import UserInfo

    token = "sandbox-upper-alice-token"
    await asyncio.to_thread(sandbox_kube.call, sandbox_kube.server.authn.add_static, token,
                            UserInfo("Alice", ("system:authenticated",), "uid-Alice"))
    lower = await odh_server.fetch("/api/notebooks", "POST", user="alice", json=START)
    upper = await odh_server.fetch("/api/notebooks", "POST", token=token, json={
        **START, "envVars": {"configMap": {"WHO": "Alice"}, "secrets": {}}})
    assert lower.status == 200 and upper.status == 200, (lower.text, upper.text)
    assert lower.json()["metadata"]["name"] == "jupyter-nb-alice"
    big = names_for("Alice")
    assert upper.json()["metadata"]["name"] == big.notebook != "jupyter-nb-alice"
    assert upper.json()["metadata"]["annotations"]["opendatahub.io/username"] == "Alice"
    # The stock frontend asks for the old name; each gets their own object.
    for who, expect in (({"user": "alice"}, "jupyter-nb-alice"), ({"token": token}, big.notebook)):
        st = await odh_server.fetch(f"/api/notebooks/{nb_ns}/jupyter-nb-alice/status", **who)
        assert st.status == 200 and st.json()["notebook"]["metadata"]["name"] == expect
    cm = await odh_server.fetch(
        f"/api/envs/configmap/{nb_ns}/jupyterhub-singleuser-profile-alice-envs", token=token)
    assert cm.status == 200 and cm.json()["data"] == {"WHO": "Alice"}
    assert cm.json()["metadata"]["name"] == big.env
    _, pvc = await admin_kube.call(
        "GET", f"/api/v1/namespaces/{nb_ns}/persistentvolumeclaims/{big.pvc}")
    assert pvc["metadata"]["annotations"]["opendatahub.io/username"] == "Alice"
    _, rb = await admin_kube.call("GET", f"{RBAC.format(ns=nb_ns)}/rolebindings/{big.role}")
    assert [s["name"] for s in rb["subjects"]] == ["Alice"]


async def test_image_pullers_binding_by_the_service_account(odh_server, admin_kube, nb_ns):
    path = f"/api/rolebindings/{nb_ns}/{nb_ns}-image-pullers"
    assert (await odh_server.fetch(path, user="alice")).status == 404
    created = await odh_server.fetch("/api/rolebindings", "POST", user="alice", json={
        "metadata": {"name": f"{nb_ns}-image-pullers", "namespace": nb_ns},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                    "name": "cluster-admin"},  # ignored: the dashboard's own binding is made
        "subjects": [{"kind": "User", "name": "alice"}]})
    assert created.status == 200, created.text
    got = await odh_server.fetch(path, user="alice")
    assert got.status == 200 and got.json()["roleRef"]["name"] == "system:image-puller"
    assert got.json()["subjects"][0]["name"] == f"system:serviceaccounts:{nb_ns}"
    again = await odh_server.fetch("/api/rolebindings", "POST", user="bob", json={
        "metadata": {"name": f"{nb_ns}-image-pullers", "namespace": nb_ns}})
    assert again.status == 200 and again.json() == {}
    # Any other binding is still the user's own business.
    other = await odh_server.fetch(f"/api/rolebindings/{nb_ns}/odh-core-notebooks", user="alice")
    assert other.status == 403


# What the stock frontend sends since hardware profiles (NotebookData.podSpecOptions).
PROFILE = {"apiVersion": "infrastructure.opendatahub.io/v1", "kind": "HardwareProfile",
           "metadata": {"name": "default-profile", "namespace": "opendatahub"},
           "spec": {"identifiers": []}}
POD_SPEC = {"resources": {"requests": {"cpu": "2", "memory": "4Gi"},
                          "limits": {"cpu": "2", "memory": "4Gi"}},
            "tolerations": [], "nodeSelector": {}, "affinity": {},
            "lastSizeSelection": "", "selectedHardwareProfile": PROFILE}


async def test_start_with_pod_spec_options(odh_server, admin_kube, nb_ns):
    body = {"state": "started", "imageName": "minimal", "imageTagName": "2024.2",
            "podSpecOptions": POD_SPEC, "storageClassName": "standard-csi",
            "envVars": {"configMap": {}, "secrets": {}}}
    resp = await odh_server.fetch("/api/notebooks", "POST", user="bob", json=body)
    assert resp.status == 200, resp.text
    nb = resp.json()
    ann = nb["metadata"]["annotations"]
    assert ann["opendatahub.io/hardware-profile-name"] == "default-profile"
    assert ann["opendatahub.io/hardware-profile-namespace"] == "opendatahub"
    pod = nb["spec"]["template"]["spec"]
    assert pod["containers"][0]["resources"] == POD_SPEC["resources"]
    assert "tolerations" not in pod and "nodeSelector" not in pod  # the profile's business
    assert {"name": "shm", "emptyDir": {"medium": "Memory"}} in pod["volumes"]
    _, pvc = await admin_kube.call(
        "GET", f"/api/v1/namespaces/{nb_ns}/persistentvolumeclaims/jupyterhub-nb-bob-pvc")
    assert pvc["spec"]["storageClassName"] == "standard-csi"
    # Without a profile the request's own scheduling applies, once it has the right shape.
    own = {**POD_SPEC, "selectedHardwareProfile": None,
           "tolerations": [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}],
           "nodeSelector": {"kubernetes.io/arch": "amd64"}}
    resp = await odh_server.fetch("/api/notebooks", "POST", user="bob",
                                  json={**body, "podSpecOptions": own})
    assert resp.status == 200, resp.text
    pod = resp.json()["spec"]["template"]["spec"]
    assert pod["tolerations"] == own["tolerations"]
    assert pod["nodeSelector"] == {"kubernetes.io/arch": "amd64"}
    for bad in ({**POD_SPEC, "resources": {"requests": {"cpu": "lots"}}},
                {**POD_SPEC, "resources": {"wants": {}}},
                {**own, "tolerations": [{"key": "x", "evil": True}]},
                {**own, "nodeSelector": {"bad key!": "x"}},
                {**POD_SPEC, "selectedHardwareProfile": {"metadata": {"name": "Bad_Name"}}},
                "not an object"):
        resp = await odh_server.fetch("/api/notebooks", "POST", user="bob",
                                      json={**body, "podSpecOptions": bad})
        assert resp.status == 400, bad
        assert resp.json()["message"]
