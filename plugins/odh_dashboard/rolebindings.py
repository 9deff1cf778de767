"""`GET /api/rolebindings/:namespace/:name`, `POST /api/rolebindings`: as the user.

The old backend made these calls with its service account, so anyone could read or create a
RoleBinding anywhere; here the user's token goes to the API server, whose RBAC (including its
escalation check on bindings) decides. Bodies are the raw RoleBinding, as before.
"""
from __future__ import annotations

from odh_core import ApiError

from .base import DashboardHandler
from .names import check_label, check_subdomain

RBAC = "/apis/rbac.authorization.k8s.io/v1"


class RoleBindingHandler(DashboardHandler):
    async def get(self, namespace: str, name: str) -> None:
        """The RoleBinding, read with the user's token."""
        check_label(namespace, "namespace")
        check_subdomain(name, "role binding name")
        self.write_json(await self.kube.json(
            "GET", f"{RBAC}/namespaces/{namespace}/rolebindings/{name}", token=self.token))


class RoleBindingsHandler(DashboardHandler):
    async def post(self) -> None:
        """Create the RoleBinding in the body (its `metadata.namespace`), as the user."""
        rb = self.json_object()
        meta = rb.get("metadata")
        if not isinstance(meta, dict):
            raise ApiError(400, "metadata is required")
        namespace = check_label(meta.get("namespace", ""), "metadata.namespace")
        if "name" in meta or "generateName" not in meta:
            check_subdomain(meta.get("name", ""), "metadata.name")
        else:
            check_subdomain(str(meta["generateName"]).rstrip("-") or "x", "metadata.generateName")
        if rb.setdefault("kind", "RoleBinding") != "RoleBinding":
            raise ApiError(400, "kind must be RoleBinding")
        if rb.setdefault("apiVersion", "rbac.authorization.k8s.io/v1") != \
                "rbac.authorization.k8s.io/v1":
            raise ApiError(400, "apiVersion must be rbac.authorization.k8s.io/v1")
        created = await self.kube.json("POST", f"{RBAC}/namespaces/{namespace}/rolebindings",
                                       token=self.token, json=rb)
        self.write_json(created)
