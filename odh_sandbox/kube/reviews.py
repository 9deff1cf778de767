"""The review APIs: access reviews, rules reviews, SelfSubjectReview, TokenReview.

They are never stored; POST answers 201 Created with the request echoed and `status`
filled in, allowed or not (clients read status.allowed).
"""
from __future__ import annotations

import copy
from typing import Any

from .authn import TokenAuthenticator
from .errors import KubeError, bad_request
from .rbac import AUTHENTICATED, Attributes, Authorizer, UserInfo
from .resources import ResourceType, VirtualRequest


def _attributes(user: UserInfo, spec: dict[str, Any]) -> Attributes:
    ra = spec.get("resourceAttributes")
    na = spec.get("nonResourceAttributes")
    if ra is not None:
        return Attributes(user, ra.get("verb", ""), True, ra.get("group", ""),
                          ra.get("resource", ""), ra.get("subresource", ""),
                          ra.get("namespace", ""), ra.get("name", ""))
    if na is not None:
        return Attributes(user, na.get("verb", ""), False, path=na.get("path", ""))
    raise KubeError(422, "spec.resourceAttributes: Invalid value: null: exactly one of "
                         "nonResourceAttributes or resourceAttributes must be specified",
                    "Invalid")


def _access_status(authz: Authorizer, a: Attributes) -> dict[str, Any]:
    allowed, reason = authz.authorize(a)
    st: dict[str, Any] = {"allowed": allowed}
    if allowed and reason:
        st["reason"] = reason
    return st


def review(rt: ResourceType, body: dict[str, Any], caller: UserInfo, namespace: str,
           authz: Authorizer, authn: TokenAuthenticator) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise bad_request("the object provided is unrecognized")
    out = copy.deepcopy(body)
    out["apiVersion"] = rt.api_version()
    out["kind"] = rt.kind
    meta = out.setdefault("metadata", {})
    meta.setdefault("creationTimestamp", None)
    spec = out.setdefault("spec", {})
    if rt.plural == "selfsubjectaccessreviews":
        out["status"] = _access_status(authz, _attributes(caller, spec))
    elif rt.plural in ("subjectaccessreviews", "localsubjectaccessreviews"):
        if not spec.get("user") and not spec.get("groups"):
            raise KubeError(422, f'{rt.kind}.authorization.k8s.io "" is invalid: spec.user: '
                                 "Invalid value: \"\": at least one of user or group must be "
                                 "specified", "Invalid")
        if rt.plural == "localsubjectaccessreviews":
            ra = spec.get("resourceAttributes") or {}
            if ra.get("namespace", namespace) != namespace or spec.get(
                    "nonResourceAttributes") is not None:
                raise KubeError(422, "spec.resourceAttributes.namespace: must match "
                                     "metadata.namespace", "Invalid")
            spec.setdefault("resourceAttributes", {})["namespace"] = namespace
            meta["namespace"] = namespace
        extra = tuple((k, tuple(v)) for k, v in (spec.get("extra") or {}).items())
        user = UserInfo(spec.get("user", ""), tuple(spec.get("groups") or ()),
                        spec.get("uid", ""), extra)
        out["status"] = _access_status(authz, _attributes(user, spec))
    elif rt.plural == "selfsubjectrulesreviews":
        out["status"] = authz.rules_review(caller, spec.get("namespace", ""))
    elif rt.plural == "selfsubjectreviews":
        out["status"] = {"userInfo": caller.to_json()}
    elif rt.plural == "tokenreviews":
        user = authn.authenticate(spec.get("token", ""))
        status: dict[str, Any] = {"authenticated": user is not None}
        if user is not None:
            status["user"] = user.to_json()
            status["audiences"] = list(spec.get("audiences") or ["https://kubernetes.default.svc"])
        else:
            status["user"] = {}
            status["error"] = "invalid bearer token"
        out["status"] = status
    return out


class Reviews:
    """The review types as virtual resources: create computes the answer."""

    def __init__(self, authz: Authorizer, authn: TokenAuthenticator) -> None:
        self.authz = authz
        self.authn = authn

    def handle(self, request: VirtualRequest) -> tuple[int, dict[str, Any]]:
        if request.verb != "create":
            raise KubeError(405, "the server does not allow this method on the requested "
                                 "resource", "MethodNotAllowed")
        return 201, review(request.rt, request.body, request.user, request.namespace,
                           self.authz, self.authn)


def whoami(user: UserInfo) -> UserInfo:
    """Groups as kube-apiserver reports them: authenticated users carry the group."""
    if user.username != "system:anonymous" and AUTHENTICATED not in user.groups:
        return UserInfo(user.username, user.groups + (AUTHENTICATED,), user.uid, user.extra)
    return user
