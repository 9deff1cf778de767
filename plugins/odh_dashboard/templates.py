"""Serving-runtime templates (the admin "Serving runtimes" page), with the old shapes (the
Kubernetes object or list as the API server answered it):

- `GET/PATCH /api/dashboardConfig/:ns/:name`: an OdhDashboardConfig (`templateOrder`,
  `templateDisablement`); PATCH is a JSON Patch;
- `GET /api/templates/:ns?labelSelector=`, `POST /api/templates`, `GET/PATCH/DELETE
  /api/templates/:ns/:name`: OpenShift Templates (template.openshift.io/v1);
- `POST /api/servingRuntimes?dryRun=All`: validates a ServingRuntime (serving.kserve.io/v1alpha1)
  the way the API server would create it.

Every write and every template route is admin only and uses odh-core's SERVICE ACCOUNT after
the route's admin check (the old backend's `secureAdminRoute`): dashboard admins manage the
dashboard namespace's templates without holding RBAC there themselves. The one exception is
`GET /api/dashboardConfig/:ns/:name`, which the old backend served to every signed-in user
(the deploy-model form reads the template order): for the dashboard's own config it reads with
the service account (the same object `/api/config` serves to everyone), for any other
namespace it reads with the caller's token.
"""
from __future__ import annotations

from typing import Any

from odh_core import SERVICE_ACCOUNT, ApiError, Route, requires

from .base import DashboardHandler
from .cr_calls import (JSON_PATCH, call, check_object_name, dry_run_arg, json_patch_body,
                       label_selector, meta_of, object_namespace)
from .defaults import CONFIG_GROUP, CONFIG_PLURAL, CONFIG_VERSION
from .names import check_label, check_subdomain

TEMPLATES = "/apis/template.openshift.io/v1/namespaces/{ns}/templates"
SERVING_RUNTIMES = "/apis/serving.kserve.io/v1alpha1/namespaces/{ns}/servingruntimes"
CONFIGS = f"/apis/{CONFIG_GROUP}/{CONFIG_VERSION}/namespaces/{{ns}}/{CONFIG_PLURAL}"
TEMPLATE_KIND = "OpenShift Templates (template.openshift.io/v1)"
RUNTIME_KIND = "KServe ServingRuntimes (serving.kserve.io/v1alpha1)"
CONFIG_KIND = "OdhDashboardConfig (opendatahub.io/v1alpha)"


def _names(ns: str, name: str | None = None) -> None:
    check_label(ns, "namespace")
    if name is not None:
        check_subdomain(name, "name")


class DashboardConfigObjectHandler(DashboardHandler):
    async def get(self, ns: str, name: str) -> None:
        """The OdhDashboardConfig `ns/name`: in the dashboard namespace read with the SERVICE
        ACCOUNT for any signed-in user (the object `/api/config` serves to everyone); elsewhere
        read with the caller's token."""
        _names(ns, name)
        token = SERVICE_ACCOUNT if ns == self.dashboard_namespace else self.token
        self.write_json(await call(self.kube, "GET", f"{CONFIGS.format(ns=ns)}/{name}",
                                   CONFIG_KIND, token=token))

    @requires("admin")
    async def patch(self, ns: str, name: str) -> None:
        """A JSON Patch of the OdhDashboardConfig: admin only, SERVICE ACCOUNT after the admin
        check. The dashboard's own config cache takes the result at once."""
        _names(ns, name)
        data = json_patch_body(self.json_body())
        obj = await call(self.kube, "PATCH", f"{CONFIGS.format(ns=ns)}/{name}", CONFIG_KIND,
                         token=SERVICE_ACCOUNT, data=data, headers={"Content-Type": JSON_PATCH})
        store = self.plugin.config_store
        if store is not None and ns == store.namespace and name == \
                (obj.get("metadata") or {}).get("name"):
            store.informer.put(obj)
        self.write_json(obj)


class TemplatesHandler(DashboardHandler):
    @requires("admin")
    async def get(self, ns: str) -> None:
        """The Templates of `ns` (a TemplateList), `?labelSelector=` passed on: admin only,
        SERVICE ACCOUNT after the admin check."""
        _names(ns)
        params = label_selector(self.get_query_argument("labelSelector", None))
        self.write_json(await call(self.kube, "GET", TEMPLATES.format(ns=ns), TEMPLATE_KIND,
                                   token=SERVICE_ACCOUNT, params=params))


class TemplateCreateHandler(DashboardHandler):
    @requires("admin")
    async def post(self) -> None:
        """Create the Template in the body (its `metadata.namespace`), `?dryRun=All` honoured:
        admin only, SERVICE ACCOUNT after the admin check."""
        body = self.json_object()
        meta = meta_of(body, what="template")
        ns = object_namespace(meta, "template")
        check_object_name(meta, "template")
        if body.setdefault("kind", "Template") != "Template":
            raise ApiError(400, "kind must be Template")
        body.setdefault("apiVersion", "template.openshift.io/v1")
        params = dry_run_arg(self.get_query_argument("dryRun", None))
        self.write_json(await call(self.kube, "POST", TEMPLATES.format(ns=ns), TEMPLATE_KIND,
                                   token=SERVICE_ACCOUNT, json=body, params=params))


class TemplateHandler(DashboardHandler):
    @requires("admin")
    async def get(self, ns: str, name: str) -> None:
        """One Template: admin only, SERVICE ACCOUNT after the admin check."""
        _names(ns, name)
        self.write_json(await call(self.kube, "GET", f"{TEMPLATES.format(ns=ns)}/{name}",
                                   TEMPLATE_KIND, token=SERVICE_ACCOUNT))

    @requires("admin")
    async def patch(self, ns: str, name: str) -> None:
        """A JSON Patch of a Template: admin only, SERVICE ACCOUNT after the admin check."""
        _names(ns, name)
        data = json_patch_body(self.json_body())
        self.write_json(await call(self.kube, "PATCH", f"{TEMPLATES.format(ns=ns)}/{name}",
                                   TEMPLATE_KIND, token=SERVICE_ACCOUNT, data=data,
                                   headers={"Content-Type": JSON_PATCH}))

    @requires("admin")
    async def delete(self, ns: str, name: str) -> None:
        """Delete a Template (answers the API server's Status or object): admin only, SERVICE
        ACCOUNT after the admin check."""
        _names(ns, name)
        self.write_json(await call(self.kube, "DELETE", f"{TEMPLATES.format(ns=ns)}/{name}",
                                   TEMPLATE_KIND, token=SERVICE_ACCOUNT))


class ServingRuntimesHandler(DashboardHandler):
    @requires("admin")
    async def post(self) -> None:
        """Create the ServingRuntime in the body (its `metadata.namespace`); the admin page
        sends `?dryRun=All` to validate a runtime before saving it as a Template: admin only,
        SERVICE ACCOUNT after the admin check."""
        body = self.json_object()
        meta = meta_of(body, what="servingRuntime")
        ns = object_namespace(meta, "servingRuntime")
        check_object_name(meta, "servingRuntime")
        if body.setdefault("kind", "ServingRuntime") != "ServingRuntime":
            raise ApiError(400, "kind must be ServingRuntime")
        body.setdefault("apiVersion", "serving.kserve.io/v1alpha1")
        params = dry_run_arg(self.get_query_argument("dryRun", None))
        self.write_json(await call(self.kube, "POST", SERVING_RUNTIMES.format(ns=ns),
                                   RUNTIME_KIND, token=SERVICE_ACCOUNT, json=body,
                                   params=params))


_OBJ: dict[str, Any] = {"type": "object", "additionalProperties": True}
_PATCH = {"type": "array", "items": {"type": "object", "required": ["op", "path"]}}


def template_routes() -> list[Route]:
    return [
        Route(r"/api/dashboardConfig/([^/]+)/([^/]+)", DashboardConfigObjectHandler,
              params=("namespace", "name"),
              description="An OdhDashboardConfig: read (dashboard namespace: any signed-in "
              "user), JSON-patch (admin).",
              request_body={"patch": _PATCH}, responses={200: _OBJ}),
        Route(r"/api/templates", TemplateCreateHandler,
              description="Create an OpenShift Template (admin; ?dryRun=All).",
              request_body=_OBJ, responses={200: _OBJ}),
        Route(r"/api/templates/([^/]+)", TemplatesHandler, params=("namespace",),
              description="List a namespace's OpenShift Templates (admin; ?labelSelector=).",
              responses={200: _OBJ}),
        Route(r"/api/templates/([^/]+)/([^/]+)", TemplateHandler, params=("namespace", "name"),
              description="Read, JSON-patch or delete an OpenShift Template (admin).",
              request_body={"patch": _PATCH}, responses={200: _OBJ}),
        Route(r"/api/servingRuntimes", ServingRuntimesHandler,
              description="Create (usually ?dryRun=All: validate) a KServe ServingRuntime "
              "(admin).", request_body=_OBJ, responses={200: _OBJ}),
    ]
