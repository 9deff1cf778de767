"""Feature store (Feast) routes, COMPAT.md §3 "feature store": everything as the user.

Discovery follows the old backend: namespaces labelled `opendatahub.io/feast=true` the user can
see, the `FeatureStore` objects labelled `feature-store-ui=enabled` there that the user may list
(403 -> skipped), and for each one whose `Registry` condition is True, its registry REST service
`feast-<name>-registry-rest.<namespace>.svc` (https:443, or http:80 when the CR disables TLS),
asked with the user's token (the registry enforces Feast permissions). The address template is
the plugin config's `feast_registry_url` (the old backend's FEAST_REGISTRY_SERVICE_HOST/PORT).

`/api/featurestores/:ns/:name/api/v1/...` is a GET-only streaming proxy to that registry, after
the names are checked and the FeatureStore is read as the user.
"""
from __future__ import annotations

import asyncio
import json
import re
import ssl
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlencode

from odh_core import SERVICE_ACCOUNT, ApiError, KubeError, ProxyHandler, Route, Upstream

from .base import DashboardHandler
from .names import check_label, check_subdomain

if TYPE_CHECKING:  # pragma: no cover
    import aiohttp

FEAST_NAMESPACE_LABEL = "opendatahub.io/feast=true"
UI_ENABLED_LABEL = "feature-store-ui=enabled"
FEAST_INTEGRATION_LABEL = "opendatahub.io/feast-integration=true"
FEAST_CONFIG_ANNOTATION = "opendatahub.io/feast-config"
NOTEBOOKS = "/apis/kubeflow.org/v1/namespaces/{ns}/notebooks"
SERVICE_CA = Path("/var/run/secrets/kubernetes.io/serviceaccount/service-ca.crt")
REGISTRY_TIMEOUT = 30.0
MAX_REGISTRY_BODY = 16 * 2**20
CONCURRENCY = 16
_SAFE_PATH = re.compile(r"^api/v1/[A-Za-z0-9_\-./]*$")


def _meta(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("metadata") or {}


def registry_ready(fs: dict[str, Any]) -> bool:
    return any(isinstance(c, dict) and c.get("type") == "Registry" and c.get("status") == "True"
               for c in (fs.get("status") or {}).get("conditions") or [])


def feast_project(fs: dict[str, Any]) -> str:
    return (fs.get("spec") or {}).get("feastProject") or _meta(fs).get("name", "")


def project_name(p: dict[str, Any]) -> str | None:
    return (p.get("spec") or {}).get("name") or p.get("name")


def check_registry_path(path: str) -> str:
    """`api/v1/...` with nothing that could climb out of it (also percent-encoded); 400 else."""
    decoded = unquote(path)
    if path and (not _SAFE_PATH.match(decoded) or ".." in decoded or "//" in decoded):
        raise ApiError(400, "Path must start with api/v1/ and must not contain traversal "
                       "sequences", error="Invalid path")
    return path or "api/v1/projects"


class FeastHandler(DashboardHandler):
    @property
    def api_version(self) -> str:
        return self.plugin.config.featurestore_api_version

    def fs_path(self, ns: str, name: str | None = None) -> str:
        base = f"/apis/feast.dev/{self.api_version}/namespaces/{ns}/featurestores"
        return f"{base}/{name}" if name else base

    def registry_base(self, fs: dict[str, Any]) -> str:
        meta = _meta(fs)
        tls_off = (((((fs.get("spec") or {}).get("services") or {}).get("registry") or {})
                    .get("local") or {}).get("server") or {}).get("tls", {}).get("disable") is True
        return self.plugin.config.feast_registry_url.format(
            name=meta.get("name", ""), namespace=meta.get("namespace", ""),
            scheme="http" if tls_off else "https", port="80" if tls_off else "443").rstrip("/")

    def registry_ssl(self, url: str) -> ssl.SSLContext | bool:
        if not url.startswith("https://"):
            return True
        ca = self.plugin.config.feast_registry_ca_file or (
            str(SERVICE_CA) if SERVICE_CA.exists() else None)
        return ssl.create_default_context(cafile=ca) if ca else True

    async def list_as_user(self, path: str, label_selector: str | None = None
                           ) -> list[dict[str, Any]] | None:
        """Items at `path` listed with the user's token; None when forbidden or not served."""
        params = {"labelSelector": label_selector} if label_selector else None
        try:
            return (await self.kube.json("GET", path, token=self.token,
                                         params=params)).get("items") or []
        except KubeError as exc:
            if exc.status in (403, 404):
                return None
            raise

    async def feast_namespaces(self) -> list[str]:
        """Namespaces labelled for Feast that the user can see: OpenShift projects as the user,
        else namespaces as the user, else (plain Kubernetes user without namespace list
        rights) the labelled namespace names (service account: names only; what is in them
        is still listed as the user)."""
        for path in ("/apis/project.openshift.io/v1/projects", "/api/v1/namespaces"):
            items = await self.list_as_user(path, FEAST_NAMESPACE_LABEL)
            if items is not None:
                return sorted(_meta(i).get("name", "") for i in items)
        body = await self.kube.json("GET", "/api/v1/namespaces", token=SERVICE_ACCOUNT,
                                    params={"labelSelector": FEAST_NAMESPACE_LABEL})
        return sorted(_meta(i).get("name", "") for i in body.get("items") or [])

    async def user_namespaces(self) -> list[str]:
        for path in ("/apis/project.openshift.io/v1/projects", "/api/v1/namespaces"):
            items = await self.list_as_user(path)
            if items is not None:
                return sorted(_meta(i).get("name", "") for i in items)
        body = await self.kube.json("GET", "/api/v1/namespaces", token=SERVICE_ACCOUNT)
        return sorted(_meta(i).get("name", "") for i in body.get("items") or [])

    async def feature_stores(self) -> list[dict[str, Any]]:
        """UI-enabled FeatureStores the user may list, across the Feast namespaces."""
        sem = asyncio.Semaphore(CONCURRENCY)

        async def one(ns: str) -> list[dict[str, Any]]:
            async with sem:
                return await self.list_as_user(self.fs_path(ns), UI_ENABLED_LABEL) or []

        results = await asyncio.gather(*(one(ns) for ns in await self.feast_namespaces()))
        return [fs for items in results for fs in items]

    async def registry_get(self, fs: dict[str, Any], path: str,
                           query: dict[str, str] | None = None) -> Any | None:
        """GET `<registry>/<path>` with the user's token; the JSON, or None when the registry
        cannot be reached or answers an error (as the old backend, which skipped it)."""
        import aiohttp

        url = f"{self.registry_base(fs)}/{path}"
        if query:
            url += "?" + urlencode(query)
        try:
            async with self.odh.http.get(
                    url, headers={"Authorization": f"Bearer {self.token}",
                                  "Accept": "application/json"},
                    ssl=self.registry_ssl(url), allow_redirects=False,
                    timeout=aiohttp.ClientTimeout(total=REGISTRY_TIMEOUT)) as resp:
                if resp.status >= 300:
                    return None
                body = await resp.content.read(MAX_REGISTRY_BODY + 1)
                if len(body) > MAX_REGISTRY_BODY:
                    return None
                return json.loads(body)
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError, ValueError) as exc:
            self.plugin.log.info("feast registry of %s/%s unavailable: %s",
                                 _meta(fs).get("namespace"), _meta(fs).get("name"),
                                 type(exc).__name__)
            return None

    async def projects(self, fs: dict[str, Any]) -> list[dict[str, Any]] | None:
        data = await self.registry_get(fs, "api/v1/projects")
        if not isinstance(data, dict):
            return None
        return [p for p in data.get("projects") or [] if isinstance(p, dict)]


class FeatureStoresHandler(FeastHandler):
    async def get(self) -> None:
        """`{featureStores: [{name, project, registry: {path}, namespace, status}],
        enabledCRDCount}`: the Feast projects of every ready, UI-enabled FeatureStore the user
        can list, as its registry reports them to the user. As the user throughout."""
        stores = await self.feature_stores()
        now = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")

        async def one(fs: dict[str, Any]) -> list[dict[str, Any]]:
            if not registry_ready(fs):
                return []
            projects = await self.projects(fs)
            if projects is None:
                return []
            target = (fs.get("spec") or {}).get("feastProject")
            meta = _meta(fs)
            return [{"name": meta.get("name"), "project": name,
                     "registry": {"path": self.registry_base(fs)},
                     "namespace": meta.get("namespace"),
                     "status": {"conditions": [{"type": "Registry", "status": "True",
                                                "lastTransitionTime": now}]}}
                    for name in (project_name(p) for p in projects)
                    if name and (not target or name == target)]

        results = await asyncio.gather(*(one(fs) for fs in stores))
        self.write_json({"featureStores": [x for r in results for x in r],
                         "enabledCRDCount": len(stores)})


class WorkbenchIntegrationHandler(FeastHandler):
    async def get(self) -> None:
        """`{namespaces: [{namespace, clientConfigs: [{configName, projectName,
        hasAccessToFeatureStore}]}]}`: per Feast namespace, the ready FeatureStores whose
        project the user's registry answer includes (what a workbench may connect to). As the
        user."""
        stores = [fs for fs in await self.feature_stores() if registry_ready(fs)]

        async def one(fs: dict[str, Any]) -> dict[str, Any] | None:
            projects = await self.projects(fs) or []
            wanted = feast_project(fs)
            if not any(project_name(p) == wanted for p in projects):
                return None
            return {"namespace": _meta(fs).get("namespace"), "configName": _meta(fs).get("name"),
                    "projectName": wanted, "hasAccessToFeatureStore": True}

        by_ns: dict[str, list[dict[str, Any]]] = {}
        for row in await asyncio.gather(*(one(fs) for fs in stores)):
            if row is not None:
                by_ns.setdefault(row.pop("namespace"), []).append(row)
        self.write_json({"namespaces": [{"namespace": ns, "clientConfigs": rows}
                                        for ns, rows in sorted(by_ns.items())]})


class ProjectsWithWorkbenchesHandler(FeastHandler):
    async def get(self) -> None:
        """`{connectedWorkbenches: [{feastProjectName, namespace, description?,
        permissionLevel, connectedWorkbenches: [{workbenchName, workbenchNamespace,
        projectName}]}]}`: the Feast projects the user can see in the registry, their Feast
        permission actions, and the user's workbenches (Notebooks labelled
        `opendatahub.io/feast-integration=true`) naming them in `opendatahub.io/feast-config`.
        As the user."""
        stores = [fs for fs in await self.feature_stores() if registry_ready(fs)]
        sem = asyncio.Semaphore(CONCURRENCY)

        async def notebooks(ns: str) -> list[dict[str, Any]]:
            async with sem:
                return await self.list_as_user(NOTEBOOKS.format(ns=ns),
                                               FEAST_INTEGRATION_LABEL) or []

        workbenches: dict[str, list[dict[str, str]]] = {}
        if stores:
            nbs = await asyncio.gather(*(notebooks(ns) for ns in await self.user_namespaces()))
            for nb in (n for items in nbs for n in items):
                meta = _meta(nb)
                entry = {"workbenchName": meta.get("name", ""),
                         "workbenchNamespace": meta.get("namespace", ""),
                         "projectName": meta.get("namespace", "")}
                config = (meta.get("annotations") or {}).get(FEAST_CONFIG_ANNOTATION) or ""
                for name in filter(None, (s.strip() for s in config.split(","))):
                    workbenches.setdefault(name, []).append(entry)

        async def one(fs: dict[str, Any]) -> dict[str, Any] | None:
            wanted = feast_project(fs)
            project = next((p for p in await self.projects(fs) or []
                            if project_name(p) == wanted), None)
            if project is None:
                return None
            perms = await self.registry_get(fs, "api/v1/permissions", {"project": wanted})
            actions: list[str] = []
            for perm in (perms or {}).get("permissions") or [] if isinstance(perms, dict) else []:
                for action in ((perm or {}).get("spec") or {}).get("actions") or []:
                    if action not in actions:
                        actions.append(action)
            row: dict[str, Any] = {"feastProjectName": wanted,
                                   "namespace": _meta(fs).get("namespace"),
                                   "permissionLevel": actions,
                                   "connectedWorkbenches": workbenches.get(wanted, [])}
            desc = ((project.get("spec") or {}).get("description")
                    or project.get("description") or "").strip()
            if desc:
                row["description"] = desc
            return row

        rows = await asyncio.gather(*(one(fs) for fs in stores))
        self.write_json({"connectedWorkbenches": [r for r in rows if r is not None]})


class FeastRegistryProxyHandler(ProxyHandler, FeastHandler):
    """GET-only streaming proxy to one FeatureStore's registry REST API, as the user."""

    SUPPORTED_METHODS = ("GET",)

    async def upstream(self) -> Upstream:
        import aiohttp

        ns, name, path = self.path_args
        check_label(ns, "namespace")
        check_subdomain(name, "name")
        path = check_registry_path(path)
        try:
            fs = await self.kube.json("GET", self.fs_path(ns, name), token=self.token)
        except KubeError as exc:
            if exc.status in (403, 404):
                raise ApiError(404, f"FeatureStore {name!r} not found in namespace {ns!r} or "
                               "access denied", error="FeatureStore not found") from None
            raise
        url = f"{self.registry_base(fs)}/{quote(unquote(path), safe='/')}"
        if self.request.query:
            url += "?" + self.request.query
        return Upstream(url, headers={"Authorization": f"Bearer {self.token}",
                                      "Accept": self.request.headers.get("Accept",
                                                                         "application/json")},
                        ssl=self.registry_ssl(url),
                        timeout=aiohttp.ClientTimeout(total=60, connect=10))

    def upstream_error(self, exc: BaseException) -> ApiError:
        if isinstance(exc, asyncio.TimeoutError):
            return ApiError(504, "the feature store registry did not answer in time")
        return ApiError(502, "Unable to contact the feature store registry",
                        error="Registry request failed")


def featurestore_routes() -> list[Route]:
    return [
        Route(r"/api/featurestores", FeatureStoresHandler,
              description="Feast projects of the feature stores you can see."),
        Route(r"/api/featurestores/projects-with-workbenches", ProjectsWithWorkbenchesHandler,
              description="Feast projects with your connected workbenches."),
        Route(r"/api/featurestores/workbench-integration", WorkbenchIntegrationHandler,
              description="Feature stores a workbench may connect to."),
        Route(r"/api/featurestores/([^/]+)/([^/]+)/(.*)", FeastRegistryProxyHandler,
              params=("namespace", "name", "path"),
              description="GET proxy to a FeatureStore's Feast registry REST API, as you."),
    ]
