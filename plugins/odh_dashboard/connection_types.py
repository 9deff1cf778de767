"""`/api/connection-types[/:name]`: connection types, ConfigMaps in the dashboard namespace
labelled `opendatahub.io/connection-type: "true"` and `opendatahub.io/dashboard: "true"`.

Reads are open to every signed-in user and use odh-core's SERVICE ACCOUNT, as the old backend
did: connection types are catalog data (field definitions of a connection form, no
credentials), and every project user needs them to create a connection. Only ConfigMaps that
carry both labels are ever returned: any other ConfigMap of the dashboard namespace answers 404
whatever it holds. Writes are admin only (the old `secureAdminRoute`) and use the service
account after the route's admin check. Shapes: a list is a JSON array of ConfigMaps, one
object is the ConfigMap, a write answers the old `{success: true, error: ""}`; a refused write
answers its 4xx with `{success: false, error: <reason>, message: <reason>}`.
"""
from __future__ import annotations

from typing import Any

from odh_core import SERVICE_ACCOUNT, ApiError, KubeError, Route, requires

from .base import DashboardHandler
from .cr_calls import JSON_PATCH, json_patch_body, meta_of
from .names import check_subdomain

DASHBOARD_LABEL = "opendatahub.io/dashboard"
CONNECTION_TYPE_LABEL = "opendatahub.io/connection-type"
SELECTOR = f"{DASHBOARD_LABEL}=true,{CONNECTION_TYPE_LABEL}=true"
PAGE = 500


def is_connection_type(obj: Any) -> bool:
    labels = ((obj or {}).get("metadata") or {}).get("labels") or {}
    return isinstance(labels, dict) and labels.get(DASHBOARD_LABEL) == "true" \
        and labels.get(CONNECTION_TYPE_LABEL) == "true"


def refused(status: int, reason: str) -> ApiError:
    """The old write answer `{success: false, error}` carried by a 4xx (message too)."""
    return ApiError(status, reason, error=reason, extra={"success": False})


class _Base(DashboardHandler):
    def cm_path(self, name: str = "") -> str:
        base = f"/api/v1/namespaces/{self.dashboard_namespace}/configmaps"
        return f"{base}/{name}" if name else base

    async def existing(self, name: str) -> dict[str, Any]:
        """The connection type `name` (service account); 404 when missing or not one."""
        check_subdomain(name, "connection type name")
        try:
            obj = await self.kube.json("GET", self.cm_path(name), token=SERVICE_ACCOUNT)
        except KubeError as exc:
            if exc.status == 404:
                raise ApiError(404, f"connection type {name!r} not found") from None
            raise
        if not is_connection_type(obj):
            raise ApiError(404, f"connection type {name!r} not found")
        return obj

    def checked_body(self, name: str | None = None) -> dict[str, Any]:
        body = self.json_object()
        meta = meta_of(body)
        if not is_connection_type(body):
            raise refused(400, "Unable to add connection type, incorrect labels.")
        if name is None:
            check_subdomain(meta.get("name"), "connection type name")  # type: ignore[arg-type]
        elif meta.setdefault("name", name) != name:
            raise refused(400, "metadata.name must match the connection type in the path")
        meta["namespace"] = self.dashboard_namespace
        body.setdefault("apiVersion", "v1")
        if body.setdefault("kind", "ConfigMap") != "ConfigMap":
            raise refused(400, "kind must be ConfigMap")
        return body


class ConnectionTypesHandler(_Base):
    async def get(self) -> None:
        """Every connection type (a JSON array of ConfigMaps), read with the SERVICE ACCOUNT
        for any signed-in user: catalog data, no credentials (see the module docstring)."""
        items: list[dict[str, Any]] = []
        params = {"labelSelector": SELECTOR, "limit": str(PAGE)}
        while True:
            page = await self.kube.json("GET", self.cm_path(), token=SERVICE_ACCOUNT,
                                        params=params)
            items.extend(i for i in page.get("items") or [] if is_connection_type(i))
            cont = (page.get("metadata") or {}).get("continue")
            if not cont:
                break
            params = {**params, "continue": cont}
        self.write_json(items)

    @requires("admin")
    async def post(self) -> None:
        """Create a connection type: admin only, written with the SERVICE ACCOUNT after the
        admin check."""
        body = self.checked_body()
        try:
            await self.kube.json("POST", self.cm_path(), token=SERVICE_ACCOUNT, json=body)
        except KubeError as exc:
            if exc.status == 409:
                raise refused(409, "A connection type with this name already exists. Please "
                              "choose a different name.") from None
            raise refused(exc.status, f"Unable to add connection type: {exc.message}.") from None
        self.write_json({"success": True, "error": ""})


class ConnectionTypeHandler(_Base):
    async def get(self, name: str) -> None:
        """One connection type, read with the SERVICE ACCOUNT for any signed-in user (catalog
        data); a ConfigMap without both labels answers 404."""
        self.write_json(await self.existing(name))

    @requires("admin")
    async def put(self, name: str) -> None:
        """Replace a connection type: admin only, SERVICE ACCOUNT after the admin check."""
        old = await self.existing(name)
        body = self.checked_body(name)
        body["metadata"].setdefault("resourceVersion",
                                    (old.get("metadata") or {}).get("resourceVersion"))
        try:
            await self.kube.json("PUT", self.cm_path(name), token=SERVICE_ACCOUNT, json=body)
        except KubeError as exc:
            raise refused(exc.status, f"Unable to update connection type: {exc.message}.") \
                from None
        self.write_json({"success": True, "error": ""})

    @requires("admin")
    async def patch(self, name: str) -> None:
        """A JSON Patch (RFC 6902) of a connection type: admin only, SERVICE ACCOUNT after the
        admin check. Tried with `dryRun=All` first: a patch whose result would no longer be a
        connection type (labels removed or changed) is refused with 400 and changes nothing."""
        await self.existing(name)
        data = json_patch_body(self.json_body())
        headers = {"Content-Type": JSON_PATCH}
        try:
            trial = await self.kube.json("PATCH", self.cm_path(name), token=SERVICE_ACCOUNT,
                                         data=data, headers=headers, params={"dryRun": "All"})
            if not is_connection_type(trial):
                raise refused(400, "Unable to update connection type, incorrect labels.")
            await self.kube.json("PATCH", self.cm_path(name), token=SERVICE_ACCOUNT,
                                 data=data, headers=headers)
        except KubeError as exc:
            raise refused(exc.status, f"Unable to update connection type: {exc.message}.") \
                from None
        self.write_json({"success": True, "error": ""})

    @requires("admin")
    async def delete(self, name: str) -> None:
        """Delete a connection type: admin only, SERVICE ACCOUNT after the admin check."""
        await self.existing(name)
        try:
            await self.kube.json("DELETE", self.cm_path(name), token=SERVICE_ACCOUNT)
        except KubeError as exc:
            raise refused(exc.status, f"Unable to delete connection type: {exc.message}.") \
                from None
        self.write_json({"success": True, "error": ""})


_CM = {"type": "object", "description": "A ConfigMap (v1)", "additionalProperties": True}
_RESULT = {"type": "object", "properties": {"success": {"type": "boolean"},
                                            "error": {"type": "string"}}}


def connection_type_routes() -> list[Route]:
    return [
        Route(r"/api/connection-types", ConnectionTypesHandler,
              description="Connection types (labelled ConfigMaps of the dashboard namespace): "
              "list for any signed-in user (catalog data), create (admin).",
              request_body={"post": _CM},
              responses={"get": {200: {"type": "array", "items": _CM}},
                         "post": {200: _RESULT}}),
        Route(r"/api/connection-types/([^/]+)", ConnectionTypeHandler, params=("name",),
              description="One connection type: read (any signed-in user), replace, JSON-patch "
              "or delete (admin).",
              request_body={"put": _CM, "patch": {"type": "array", "items": {"type": "object"}}},
              responses={"get": {200: _CM}, "put": {200: _RESULT}, "patch": {200: _RESULT},
                         "delete": {200: _RESULT}}),
    ]

