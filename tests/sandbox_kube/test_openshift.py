"""OpenShift's project and user APIs in the sandbox (odh_sandbox/kube/openshift.py), through
the official client: projects are the namespaces the caller may see, project requests make
the requester admin, a project watch follows RBAC, users/~ is the caller."""
from __future__ import annotations

import json
import queue
import threading
import urllib.request
import uuid
from typing import Any, Callable, Iterator

import pytest
from kubernetes import client

from odh_sandbox.kube import SandboxKube

P = ("project.openshift.io", "v1")


def _custom(api_client: Callable[..., client.ApiClient], user: str) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api_client(user))


def _names(listing: dict[str, Any]) -> list[str]:
    return [i["metadata"]["name"] for i in listing["items"]]


@pytest.fixture
def requested(api_client: Callable[..., client.ApiClient]) -> Iterator[list[str]]:
    """Namespaces a test made through ProjectRequests; deleted afterwards."""
    made: list[str] = []
    yield made
    core = client.CoreV1Api(api_client("admin"))
    for name in made:
        try:
            core.delete_namespace(name)
        except client.ApiException:
            pass


def test_projects_are_what_the_caller_may_see(api_client) -> None:
    alice, bob, admin = (_custom(api_client, u) for u in ("alice", "bob", "admin"))
    # Her project, and the seed namespaces where she was granted a role (view/user): no more.
    seen = _names(alice.list_cluster_custom_object(*P, "projects"))
    assert "alice-project" in seen and not {"bob-project", "opendatahub", "default"} & set(seen)
    everything = _names(admin.list_cluster_custom_object(*P, "projects"))
    assert {"alice-project", "bob-project", "opendatahub", "default"} <= set(everything)
    mine = alice.get_cluster_custom_object(*P, "projects", "alice-project")
    assert mine["kind"] == "Project" and mine["apiVersion"] == "project.openshift.io/v1"
    assert mine["metadata"]["annotations"]["openshift.io/display-name"] == "Alice's project"
    assert mine["status"] == {"phase": "Active"}
    with pytest.raises(client.ApiException) as e:
        bob.get_cluster_custom_object(*P, "projects", "alice-project")
    assert e.value.status == 403
    by_label = alice.list_cluster_custom_object(*P, "projects",
                                                label_selector="opendatahub.io/dashboard=true")
    assert "alice-project" in _names(by_label)
    assert set(_names(by_label)) <= set(seen) and "opendatahub" in everything


def test_project_request_makes_the_requester_admin(api_client, requested) -> None:
    alice, bob = _custom(api_client, "alice"), _custom(api_client, "bob")
    name = f"alice-new-{uuid.uuid4().hex[:6]}"
    project = alice.create_cluster_custom_object(*P, "projectrequests", {
        "apiVersion": "project.openshift.io/v1", "kind": "ProjectRequest",
        "metadata": {"name": name}, "displayName": "New one", "description": "for tests"})
    requested.append(name)
    assert project["kind"] == "Project" and project["metadata"]["name"] == name
    ann = project["metadata"]["annotations"]
    assert ann == {"openshift.io/requester": "alice", "openshift.io/display-name": "New one",
                   "openshift.io/description": "for tests"}
    rb = client.RbacAuthorizationV1Api(api_client("admin")).read_namespaced_role_binding(
        "admin", name)
    assert rb.role_ref.name == "admin" and [s.name for s in rb.subjects] == ["alice"]
    assert name in _names(alice.list_cluster_custom_object(*P, "projects"))
    assert name not in _names(bob.list_cluster_custom_object(*P, "projects"))
    # As admin of the project she works in it and edits the project's display name.
    client.CoreV1Api(api_client("alice")).create_namespaced_config_map(
        name, {"metadata": {"name": "cm"}})
    patched = alice.patch_cluster_custom_object(*P, "projects", name, {
        "metadata": {"annotations": {"openshift.io/display-name": "Renamed"}}})
    assert patched["metadata"]["annotations"]["openshift.io/display-name"] == "Renamed"
    ns = client.CoreV1Api(api_client("admin")).read_namespace(name)
    assert ns.metadata.annotations["openshift.io/display-name"] == "Renamed"
    with pytest.raises(client.ApiException) as e:
        bob.patch_cluster_custom_object(*P, "projects", name, {"metadata": {"labels": {"x": "y"}}})
    assert e.value.status == 403
    with pytest.raises(client.ApiException) as e:
        alice.create_cluster_custom_object(*P, "projectrequests", {
            "apiVersion": "project.openshift.io/v1", "kind": "ProjectRequest",
            "metadata": {"name": name}})
    assert e.value.status == 409 and "project.openshift.io" in e.value.body
    with pytest.raises(client.ApiException) as e:
        alice.create_cluster_custom_object(*P, "projectrequests", {
            "apiVersion": "project.openshift.io/v1", "kind": "ProjectRequest",
            "metadata": {"name": "Not_A_Label"}})
    assert e.value.status == 422
    with pytest.raises(client.ApiException) as e:
        _custom(api_client, "admin").get_cluster_custom_object(*P, "projects", "no-such")
    assert e.value.status == 404 and "projects.project.openshift.io" in e.value.body
    # Deleting the project deletes the namespace.
    alice.delete_cluster_custom_object(*P, "projects", name)
    with pytest.raises(client.ApiException) as e:
        client.CoreV1Api(api_client("admin")).read_namespace(name)
    assert e.value.status == 404


def _watch_lines(kube: SandboxKube, user: str, path: str, out: queue.Queue[Any]) -> None:
    req = urllib.request.Request(kube.http_url + path,
                                 headers={"Authorization": f"Bearer {kube.token(user)}"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        for line in resp:
            out.put(json.loads(line))
    out.put(None)


def _next(events: queue.Queue[Any]) -> tuple[str, str]:
    ev = events.get(timeout=10)
    assert ev is not None, "the watch ended early"
    return ev["type"], ev["object"]["metadata"]["name"]


def test_project_watch_follows_rbac(kube, api_client) -> None:
    events: queue.Queue[Any] = queue.Queue()
    t = threading.Thread(target=_watch_lines, daemon=True, args=(
        kube, "bob", "/apis/project.openshift.io/v1/projects?watch=true&timeoutSeconds=8",
        events))
    t.start()
    assert _next(events) == ("ADDED", "bob-project")
    core = client.CoreV1Api(api_client("admin"))
    rbac = client.RbacAuthorizationV1Api(api_client("admin"))
    name = f"shared-{uuid.uuid4().hex[:6]}"
    core.create_namespace({"metadata": {"name": name}})
    try:
        rbac.create_namespaced_role_binding(name, {
            "metadata": {"name": "bob-view"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                        "name": "view"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                          "name": "bob"}]})
        assert _next(events) == ("ADDED", name)   # not before: the namespace was not his
        core.patch_namespace(name, {"metadata": {"labels": {"touched": "yes"}}})
        assert _next(events) == ("MODIFIED", name)
        rbac.delete_namespaced_role_binding("bob-view", name)
        assert _next(events) == ("DELETED", name)
    finally:
        core.delete_namespace(name)
    t.join(15)


def test_users_tilde_is_the_caller(api_client) -> None:
    alice, bob, admin = (_custom(api_client, u) for u in ("alice", "bob", "admin"))
    me = alice.get_cluster_custom_object("user.openshift.io", "v1", "users", "~")
    assert me["kind"] == "User" and me["metadata"]["name"] == "alice"
    assert "system:authenticated" in me["groups"]
    with pytest.raises(client.ApiException) as e:
        bob.get_cluster_custom_object("user.openshift.io", "v1", "users", "alice")
    assert e.value.status == 403
    assert admin.get_cluster_custom_object("user.openshift.io", "v1", "users",
                                           "alice")["metadata"]["name"] == "alice"
    with pytest.raises(client.ApiException) as e:
        admin.get_cluster_custom_object("user.openshift.io", "v1", "users", "nobody")
    assert e.value.status == 404


def test_discovery_lists_the_openshift_groups(kube, api_client) -> None:
    groups = {g.name for g in client.ApisApi(api_client("alice")).get_api_versions().groups}
    assert {"project.openshift.io", "user.openshift.io", "storage.k8s.io"} <= groups
    req = urllib.request.Request(kube.http_url + "/apis/project.openshift.io/v1", headers={
        "Authorization": f"Bearer {kube.token('alice')}"})
    with urllib.request.urlopen(req) as resp:
        res = json.load(resp)
    assert {r["name"] for r in res["resources"]} == {"projects", "projectrequests"}


def test_every_user_reads_storage_classes(api_client) -> None:
    classes = client.StorageV1Api(api_client("alice")).list_storage_class().items
    assert [c.metadata.name for c in classes] == ["shared-rwx", "standard-csi"]
    default = [c for c in classes if c.metadata.annotations.get(
        "storageclass.kubernetes.io/is-default-class") == "true"]
    assert [c.metadata.name for c in default] == ["standard-csi"]
