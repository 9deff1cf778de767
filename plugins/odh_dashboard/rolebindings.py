"""`GET /api/rolebindings/:namespace/:name`, `POST /api/rolebindings`.

One binding is the dashboard's own: `<notebook namespace>-image-pullers` in the dashboard
namespace (ClusterRole `system:image-puller` for the notebook namespace's service accounts, so
notebook pods may pull the dashboard's ImageStreams). The Jupyter tile of every user checks it
and creates it when missing, as the old backend's route-security allowed everyone to; odh-core's
SERVICE ACCOUNT reads it and creates exactly that object (whatever the body says, as the old
backend did). Every other binding is read and created with the user's token, so the API
server's RBAC (including its escalation check on bindings) decides. Bodies are the raw
RoleBinding, as before.
"""
from __future__ import annotations

from typing import Any

from odh_core import SERVICE_ACCOUNT, ApiError, KubeError

from .names import check_label, check_subdomain
from .notebooks import NotebookHandlerBase

RBAC = "/apis/rbac.authorization.k8s.io/v1"


class _ImagePullers(NotebookHandlerBase):
    async def image_pullers(self) -> tuple[str, str]:
        """(namespace, name) of the image-pullers binding."""
        return self.dashboard_namespace, f"{await self.notebook_namespace()}-image-pullers"

    def image_pullers_binding(self, namespace: str, name: str, nb_ns: str) -> dict[str, Any]:
        return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": {"name": name, "namespace": namespace},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                            "name": "system:image-puller"},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group",
                              "name": f"system:serviceaccounts:{nb_ns}"}]}


class RoleBindingHandler(_ImagePullers):
    async def get(self, namespace: str, name: str) -> None:
        """The RoleBinding: the image-pullers binding with the SERVICE ACCOUNT, any other
        with the user's token."""
        check_label(namespace, "namespace")
        check_subdomain(name, "role binding name")
        token = SERVICE_ACCOUNT if (namespace, name) == await self.image_pullers() \
            else self.token
        self.write_json(await self.kube.json(
            "GET", f"{RBAC}/namespaces/{namespace}/rolebindings/{name}", token=token))


class RoleBindingsHandler(_ImagePullers):
    async def post(self) -> None:
        """Create the RoleBinding in the body (its `metadata.namespace`), as the user; the
        image-pullers binding (by name) is created by the SERVICE ACCOUNT, exactly as the
        dashboard defines it ({} when it already exists, as before)."""
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
        pullers = await self.image_pullers()
        if (namespace, meta.get("name")) == pullers:
            fixed = self.image_pullers_binding(*pullers, await self.notebook_namespace())
            try:
                self.write_json(await self.kube.json(
                    "POST", f"{RBAC}/namespaces/{namespace}/rolebindings",
                    token=SERVICE_ACCOUNT, json=fixed))
            except KubeError as exc:
                if exc.status != 409:
                    raise
                self.write_json({})
            return
        created = await self.kube.json("POST", f"{RBAC}/namespaces/{namespace}/rolebindings",
                                       token=self.token, json=rb)
        self.write_json(created)
