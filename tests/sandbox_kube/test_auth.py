"""Authentication, RBAC for the seed users, impersonation and every review API."""
from __future__ import annotations

import json
import urllib.request

import pytest
from kubernetes import client

from odh_sandbox.kube.protobuf import PROTOBUF_CT, decode_object, encode_object

from .conftest import cm


def test_plain_users_see_only_their_projects(api_client) -> None:
    alice = client.CoreV1Api(api_client("alice"))
    assert alice.list_namespaced_pod("alice-project").kind == "PodList"
    assert alice.read_namespace("alice-project").metadata.name == "alice-project"
    with pytest.raises(client.ApiException) as e:
        alice.list_namespaced_pod("bob-project")
    body = json.loads(e.value.body)
    assert e.value.status == 403 and body["reason"] == "Forbidden"
    assert body["message"] == ('pods is forbidden: User "alice" cannot list resource "pods" '
                               'in API group "" in the namespace "bob-project"')
    with pytest.raises(client.ApiException) as e:
        alice.list_namespace()
    assert e.value.status == 403 and "at the cluster scope" in e.value.body
    with pytest.raises(client.ApiException) as e:
        alice.read_namespace("bob-project")
    assert e.value.status == 403


def test_resource_names_and_subresources(api_client) -> None:
    rbac = client.RbacAuthorizationV1Api(api_client("alice"))
    alice = client.CoreV1Api(api_client("alice"))
    bob = client.CoreV1Api(api_client("bob"))
    alice.create_namespaced_config_map("alice-project", cm("shared"))
    alice.create_namespaced_config_map("alice-project", cm("private"))
    alice.create_namespaced_pod("alice-project", {"metadata": {"name": "web"}, "spec": {
        "containers": [{"name": "c", "image": "x"}]}})
    rbac.create_namespaced_role("alice-project", {"metadata": {"name": "bob-peek"}, "rules": [
        {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["shared"],
         "verbs": ["get"]},
        {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]}]})
    rbac.create_namespaced_role_binding("alice-project", {
        "metadata": {"name": "bob-peek"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                    "name": "bob-peek"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                      "name": "bob"}]})
    try:
        assert bob.read_namespaced_config_map("shared", "alice-project").metadata.name == \
            "shared"
        for call in (lambda: bob.read_namespaced_config_map("private", "alice-project"),
                     lambda: bob.list_namespaced_config_map("alice-project"),
                     lambda: bob.read_namespaced_pod("web", "alice-project")):
            with pytest.raises(client.ApiException) as e:
                call()
            assert e.value.status == 403
        assert bob.read_namespaced_pod_log("web", "alice-project") == ""
    finally:
        admin_rbac = client.RbacAuthorizationV1Api(api_client("admin"))
        admin_rbac.delete_namespaced_role_binding("bob-peek", "alice-project")
        admin_rbac.delete_namespaced_role("bob-peek", "alice-project")
        for name in ("shared", "private"):
            alice.delete_namespaced_config_map(name, "alice-project")
        alice.delete_namespaced_pod("web", "alice-project")
    with pytest.raises(client.ApiException) as e:
        bob.read_namespaced_config_map("shared", "alice-project")
    assert e.value.status in (403, 404)


def test_anonymous_and_bad_tokens(kube, api_client) -> None:
    anon = client.CoreV1Api(api_client(None))
    with pytest.raises(client.ApiException) as e:
        anon.list_namespaced_pod("default")
    assert e.value.status == 403
    assert 'User "system:anonymous"' in json.loads(e.value.body)["message"]
    for path in ("/version", "/healthz", "/readyz", "/livez"):
        with urllib.request.urlopen(kube.http_url + path) as r:
            assert r.status == 200
    req = urllib.request.Request(kube.http_url + "/api/v1/namespaces/default/pods",
                                 headers={"Authorization": "Bearer wrong"})
    with pytest.raises(urllib.error.HTTPError) as he:
        urllib.request.urlopen(req)
    body = json.loads(he.value.read())
    he.value.close()
    assert he.value.code == 401 and body == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "Unauthorized", "reason": "Unauthorized", "code": 401}


def test_impersonation(api_client) -> None:
    admin = api_client("admin")
    admin.set_default_header("Impersonate-User", "alice")
    as_alice = client.CoreV1Api(admin)
    as_alice.list_namespaced_pod("alice-project")
    with pytest.raises(client.ApiException) as e:
        as_alice.list_namespaced_pod("bob-project")
    assert e.value.status == 403 and 'User "alice"' in json.loads(e.value.body)["message"]
    me = client.AuthenticationV1Api(admin).create_self_subject_review({})
    assert me.status.user_info.username == "alice"
    alice = api_client("alice")
    alice.set_default_header("Impersonate-User", "admin")
    with pytest.raises(client.ApiException) as e:
        client.CoreV1Api(alice).list_namespace()
    assert e.value.status == 403 and "cannot impersonate" in e.value.body


def _ssar(ns: str, verb: str, resource: str, **extra: str) -> dict:
    return {"spec": {"resourceAttributes": dict(namespace=ns, verb=verb, resource=resource,
                                                **extra)}}


def test_self_subject_access_reviews(api_client) -> None:
    authz = client.AuthorizationV1Api(api_client("alice"))
    ok, code, _ = authz.create_self_subject_access_review_with_http_info(
        _ssar("alice-project", "create", "pods"))
    assert code == 201 and ok.status.allowed is True
    no, code, _ = authz.create_self_subject_access_review_with_http_info(
        _ssar("bob-project", "get", "pods"))
    assert code == 201 and no.status.allowed is False
    assert authz.create_self_subject_access_review(
        _ssar("alice-project", "get", "pods", subresource="log")).status.allowed
    assert authz.create_self_subject_access_review(
        {"spec": {"nonResourceAttributes": {"path": "/apis", "verb": "get"}}}).status.allowed
    admin = client.AuthorizationV1Api(api_client("admin"))
    assert admin.create_self_subject_access_review(
        _ssar("", "delete", "auths", group="services.platform.opendatahub.io")).status.allowed


def test_subject_access_reviews_and_rules(api_client) -> None:
    sa = client.AuthorizationV1Api(api_client("odh-core"))
    res = sa.create_subject_access_review({"spec": {
        "user": "bob", "groups": ["system:authenticated"],
        "resourceAttributes": {"namespace": "bob-project", "verb": "list",
                               "resource": "pods"}}})
    assert res.status.allowed is True
    res = sa.create_subject_access_review({"spec": {
        "user": "bob", "resourceAttributes": {"namespace": "alice-project", "verb": "list",
                                              "resource": "pods"}}})
    assert res.status.allowed is False
    alice = client.AuthorizationV1Api(api_client("alice"))
    lsar = alice.create_namespaced_local_subject_access_review("alice-project", {
        "metadata": {"namespace": "alice-project"},
        "spec": {"user": "bob", "resourceAttributes": {"namespace": "alice-project",
                                                       "verb": "get", "resource": "pods"}}})
    assert lsar.status.allowed is False
    with pytest.raises(client.ApiException) as e:
        alice.create_subject_access_review({"spec": {"user": "bob", "resourceAttributes": {
            "verb": "get", "resource": "pods"}}})
    assert e.value.status == 403
    rules = alice.create_self_subject_rules_review({"spec": {"namespace": "alice-project"}})
    assert any("pods" in (r.resources or []) and "create" in r.verbs
               for r in rules.status.resource_rules)
    assert rules.status.incomplete is False


def test_self_subject_review_and_token_review(kube, api_client) -> None:
    me = client.AuthenticationV1Api(api_client("alice")).create_self_subject_review({})
    assert me.status.user_info.username == "alice"
    assert "system:authenticated" in me.status.user_info.groups
    sa_me = client.AuthenticationV1Api(api_client("odh-core")).create_self_subject_review({})
    assert sa_me.status.user_info.username == "system:serviceaccount:opendatahub:odh-core"
    authn = client.AuthenticationV1Api(api_client("odh-core"))
    tr = authn.create_token_review({"spec": {"token": kube.token("admin")}})
    assert tr.status.authenticated and "odh-admins" in tr.status.user.groups
    assert authn.create_token_review({"spec": {"token": "nope"}}).status.authenticated is False
    with pytest.raises(client.ApiException) as e:
        client.AuthenticationV1Api(api_client("bob")).create_token_review(
            {"spec": {"token": "x"}})
    assert e.value.status == 403


def test_token_request_issues_a_working_token(kube, api_client, core, ns: str) -> None:
    core.create_namespaced_service_account(ns, {"metadata": {"name": "robot"}})
    tr = core.create_namespaced_service_account_token("robot", ns, {"spec": {}})
    cfg = client.Configuration(host=kube.http_url)
    cfg.api_key = {"authorization": tr.status.token}
    cfg.api_key_prefix = {"authorization": "Bearer"}
    with client.ApiClient(cfg) as c:
        me = client.AuthenticationV1Api(c).create_self_subject_review({})
    assert me.status.user_info.username == f"system:serviceaccount:{ns}:robot"


def test_protobuf_self_subject_access_review(kube) -> None:
    """kubectl 1.32 `auth can-i` sends the review as protobuf and prefers protobuf back."""
    body = encode_object({"apiVersion": "authorization.k8s.io/v1",
                          "kind": "SelfSubjectAccessReview", "metadata": {},
                          "spec": {"resourceAttributes": {"namespace": "alice-project",
                                                          "verb": "list", "resource": "pods"}}})
    assert body is not None
    req = urllib.request.Request(
        kube.http_url + "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", data=body,
        method="POST", headers={"Authorization": f"Bearer {kube.token('alice')}",
                                "Content-Type": "application/vnd.kubernetes.protobuf",
                                "Accept": "application/vnd.kubernetes.protobuf, "
                                          "application/json"})
    with urllib.request.urlopen(req) as r:
        assert r.status == 201
        assert r.headers["Content-Type"] == PROTOBUF_CT
        out = decode_object(r.read())
    assert out["kind"] == "SelfSubjectAccessReview"
    assert out["spec"]["resourceAttributes"]["resource"] == "pods"
    assert out["status"]["allowed"] is True
