"""The routes the dashboard frontend calls while it boots (COMPAT.md §3 "Boot", "Called at
start"), with the old backend's response shapes.

Every route here answers from the watch-fed caches in boot_caches.py: no API call per request.
They read with odh-core's SERVICE ACCOUNT (the caches) for any signed-in user, as the old
backend did; each handler's docstring says why the data is not sensitive. No Secret's
content is ever returned except the segment key, a public analytics write key the old backend
sent to every user (the frontend hands it to the browser's analytics script anyway).
"""
from __future__ import annotations

import base64
import binascii
from typing import Any

from odh_core import ApiError, Route

from .base import DashboardHandler
from .boot_caches import BootCaches
from .dashconfig import FLAGS_HEADER, parse_flags_header

# Old backend: BuildPhase (frontend types); "pending-ish" builds sort before finished ones.
PHASE_NONE = "Not started"
PENDING_PHASES = ("New", "Pending", "Cancelled")
NIM_UNKNOWN = "Unknown"


class BootHandler(DashboardHandler):
    def caches(self) -> BootCaches:
        caches = getattr(self.plugin, "boot_caches", None)
        if caches is None:
            raise ApiError(503, "no Kubernetes API server is configured")
        return caches

    async def dashboard_spec(self) -> dict[str, Any]:
        """`spec` of the merged OdhDashboardConfig (the config plugin's watch cache, with this
        request's `x-odh-feature-flags`); the defaults when there is no config store."""
        overrides = parse_flags_header(self.request.headers.get(FLAGS_HEADER))
        store = getattr(self.plugin, "config_store", None)
        if store is None:
            return {"dashboardConfig": dict(overrides)}
        return store.merged(await store.raw(), overrides).get("spec") or {}


def _meta(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec = obj.get("spec")
    return spec if isinstance(spec, dict) else {}


def _status(obj: dict[str, Any]) -> dict[str, Any]:
    status = obj.get("status")
    return status if isinstance(status, dict) else {}


def _flag_on(flags: dict[str, Any], name: Any) -> bool:
    return isinstance(name, str) and flags.get(name) is True


# -- DataScienceCluster / DSCInitialization ------------------------------------------------------
class _FirstStatusHandler(BootHandler):
    informer_name = ""
    kind = ""
    unavailable = ""

    async def get(self) -> None:
        caches = self.caches()
        items = await caches.items(getattr(caches, self.informer_name))
        if not items:
            raise ApiError(404, "Unable to get status", error=self.unavailable)
        status = _status(items[0])
        if not status:
            raise ApiError(404, f"the {self.kind} {_meta(items[0]).get('name')!r} has no "
                           "status yet", error=self.unavailable)
        self.write_json(status)


class DscStatusHandler(_FirstStatusHandler):
    informer_name, kind, unavailable = "dsc", "DataScienceCluster", "DSC Unavailable"

    async def get(self) -> None:
        """`.status` of the first DataScienceCluster (v2); 404 when there is none.

        Service account, any signed-in user: which components are managed and their states
        (no credentials); the old backend served it the same way."""
        await super().get()


class DsciStatusHandler(_FirstStatusHandler):
    informer_name, kind, unavailable = "dsci", "DSCInitialization", "DSCI Unavailable"

    async def get(self) -> None:
        """`.status` of the first DSCInitialization (v2); 404 when there is none.

        Service account, any signed-in user: platform phase and release (not sensitive)."""
        await super().get()


# -- notebook image builds --------------------------------------------------------------------
def _build_number(build: dict[str, Any]) -> int:
    raw = (_meta(build).get("annotations") or {}).get("openshift.io/build.number", "")
    try:
        return int(raw)
    except (TypeError, ValueError):
        return 0


def latest_build(builds: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The old backend's choice: the highest-numbered build that is not pending, else the
    highest-numbered pending one."""
    if not builds:
        return None
    return max(builds, key=lambda b: (_status(b).get("phase") not in PENDING_PHASES,
                                      _build_number(b)))


def build_statuses(build_configs: list[dict[str, Any]],
                   builds: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for bc in build_configs:
        name = _meta(bc).get("name", "")
        notebook = (_meta(bc).get("labels") or {}).get("opendatahub.io/notebook-name") or name
        own = [b for b in builds
               if (_meta(b).get("labels") or {}).get("buildconfig") == name
               or (_meta(b).get("labels") or {}).get("openshift.io/build-config.name") == name]
        last = latest_build(own)
        if last is None:
            out.append({"name": notebook, "status": PHASE_NONE})
            continue
        st = _status(last)
        entry: dict[str, Any] = {"name": notebook, "status": st.get("phase") or "New"}
        ts = st.get("completionTimestamp") or st.get("startTimestamp")
        if ts:
            entry["timestamp"] = ts
        out.append(entry)
    return out


class BuildsHandler(BootHandler):
    async def get(self) -> None:
        """`[{name, status, timestamp?}]`: each notebook-image BuildConfig (label
        `opendatahub.io/build_type=notebook_image`) of the dashboard namespace and the phase of
        its latest Build ("Not started" without one).

        Service account, any signed-in user: image names and build phases (not sensitive)."""
        caches = self.caches()
        self.write_json(build_statuses(await caches.items(caches.build_configs),
                                       await caches.items(caches.builds)))


# -- OdhApplications ---------------------------------------------------------------------------
def is_integration_app(app: dict[str, Any]) -> bool:
    return bool(_spec(app).get("internalRoute"))


class ComponentsHandler(BootHandler):
    async def get(self) -> None:
        """The OdhApplications of the dashboard namespace (those behind a feature flag only
        when it is on; `jupyter` only while the notebook controller is enabled), with
        `spec.isEnabled` / `spec.shownOnEnabledPage` computed as the old backend did.
        `?installed=true`: the integration apps (`spec.internalRoute`; the client asks that
        route) and the apps shown on the Enabled page, each with its resolved `spec.link`.

        Service account, any signed-in user: the application catalog (not sensitive)."""
        installed = self.get_query_argument("installed", "")
        self.write_json(await self.applications(installed=bool(installed)))

    async def applications(self, *, installed: bool = False) -> list[dict[str, Any]]:
        caches = self.caches()
        spec = await self.dashboard_spec()
        flags = spec.get("dashboardConfig") or {}
        jupyter = (spec.get("notebookController") or {}).get("enabled") is not False
        cms = {(_meta(cm).get("name")): cm for cm in await caches.items(caches.config_maps)}
        enabled_cm = (cms.get(self.plugin.config.enabled_apps_configmap) or {}).get("data") or {}
        apps = []
        for app in await caches.items(caches.apps):
            aspec = _spec(app)
            name = _meta(app).get("name")
            if aspec.get("featureFlag") and not _flag_on(flags, aspec.get("featureFlag")):
                continue
            if name == "jupyter" and not jupyter:
                continue
            if is_integration_app(app):
                apps.append(app)  # its status comes from its internalRoute
                continue
            enabled = self.app_enabled(app, cms)
            shown = enabled_cm.get(name) == "true" or enabled
            new_spec = dict(aspec, isEnabled=enabled, shownOnEnabledPage=shown)
            if installed or enabled:
                link = await self.app_link(app)
                if link:
                    new_spec["link"] = link
            apps.append(dict(app, spec=new_spec))
        if not installed:
            return apps
        return [a for a in apps if is_integration_app(a) or _spec(a).get("shownOnEnabledPage")]

    @staticmethod
    def app_enabled(app: dict[str, Any], cms: dict[str, dict[str, Any]]) -> bool:
        """Red Hat managed apps always; others when their validation ConfigMap says so.
        (The old backend also looked at an `enableCR` object and operator CSVs; those need a
        cache per arbitrary kind and are not read here.)"""
        aspec = _spec(app)
        if aspec.get("category") == "Red Hat managed":
            return True
        cm_name = (aspec.get("enable") or {}).get("validationConfigMap")
        if cm_name and cm_name in cms:
            return ((cms[cm_name].get("data") or {}).get("validation_result")) == "true"
        return False

    async def app_link(self, app: dict[str, Any]) -> str | None:
        """`spec.endpoint`, else its Route (`spec.route`, in the dashboard namespace), else
        its ConsoleLink's href."""
        aspec = _spec(app)
        if isinstance(aspec.get("endpoint"), str) and aspec["endpoint"]:
            return aspec["endpoint"]
        caches = self.caches()
        route_name = aspec.get("route")
        if route_name and (aspec.get("routeNamespace") in (None, "", caches.namespace)):
            route = await caches.get(caches.routes, route_name, caches.namespace)
            host = _spec(route or {}).get("host")
            if host:
                tls = bool(_spec(route or {}).get("tls"))
                return f"{'https' if tls else 'http'}://{host}{aspec.get('routeSuffix') or ''}"
        link_name = aspec.get("consoleLink")
        if link_name:
            link = await caches.get(caches.console_links, link_name)
            href = _spec(link or {}).get("href")
            if href:
                return href
        return None


# -- NIM ---------------------------------------------------------------------------------------
def _condition(account: dict[str, Any], ctype: str) -> dict[str, Any]:
    for cond in _status(account).get("conditions") or []:
        if isinstance(cond, dict) and cond.get("type") == ctype:
            return cond
    return {}


def nim_state(accounts: list[dict[str, Any]], crd_missing: bool) -> dict[str, Any]:
    """The old backend's GET /api/integrations/nim answer for the first NIM Account."""
    if not accounts:
        return {"isInstalled": False, "isEnabled": False,
                "variablesValidationStatus": NIM_UNKNOWN, "variablesValidationTimestamp": "",
                "canInstall": not crd_missing, "error": "NIM not installed" if crd_missing else ""}
    account = accounts[0]
    enabled = _condition(account, "AccountStatus").get("status") == "True"
    key = _condition(account, "APIKeyValidation")
    errors = [c.get("message") or "" for c in _status(account).get("conditions") or []
              if isinstance(c, dict) and c.get("status") == "False"]
    return {"isInstalled": True, "isEnabled": enabled,
            "variablesValidationStatus": key.get("status") or NIM_UNKNOWN,
            "variablesValidationTimestamp": _status(account).get("lastAccountCheck")
            or key.get("lastTransitionTime") or "",
            "canInstall": not enabled, "error": errors[0] if errors else ""}


class NimHandler(BootHandler):
    async def get(self) -> None:
        """`{isInstalled, isEnabled, variablesValidationStatus, variablesValidationTimestamp,
        canInstall, error}` from the first NIM `Account` of the dashboard namespace.

        Service account, any signed-in user (the old backend's GET had no admin check): the
        account's state and validation result only, never its API key Secret."""
        caches = self.caches()
        accounts = await caches.items(caches.nim_accounts)
        # An empty cache with a list error means the Account kind is not served (no CRD).
        self.write_json(nim_state(accounts, crd_missing=not accounts and bool(
            caches.nim_accounts.last_error)))


# -- console links, quick starts, segment key ----------------------------------------------------
class ConsoleLinksHandler(BootHandler):
    async def get(self) -> None:
        """The cluster's ConsoleLink objects, as the old backend listed them.

        Service account, any signed-in user: the links every console user sees."""
        caches = self.caches()
        self.write_json(await caches.items(caches.console_links))


class QuickStartsHandler(BootHandler):
    async def get(self) -> None:
        """The OdhQuickStarts of the dashboard namespace whose `spec.appName` is a listed
        application (and whose `spec.featureFlag`, if any, is on; `jupyter` ones only while
        the notebook controller is enabled).

        Service account, any signed-in user: tutorial content (not sensitive)."""
        caches = self.caches()
        spec = await self.dashboard_spec()
        flags = spec.get("dashboardConfig") or {}
        jupyter = (spec.get("notebookController") or {}).get("enabled") is not False
        apps = {_meta(a).get("name") for a in await caches.items(caches.apps)
                if not _spec(a).get("featureFlag") or _flag_on(flags, _spec(a)["featureFlag"])}
        out = []
        for qs in await caches.items(caches.quickstarts):
            qspec = _spec(qs)
            if qspec.get("featureFlag") and not _flag_on(flags, qspec["featureFlag"]):
                continue
            if qspec.get("appName") not in apps:
                continue
            if qspec.get("appName") == "jupyter" and not jupyter:
                continue
            out.append(qs)
        self.write_json(out)


def decode_segment_key(secret: dict[str, Any] | None) -> str:
    raw = ((secret or {}).get("data") or {}).get("segmentKey")
    if not isinstance(raw, str):
        return ""
    try:
        return base64.b64decode(raw, validate=True).decode("utf-8").strip()
    except (binascii.Error, UnicodeDecodeError):
        return ""


class SegmentKeyHandler(BootHandler):
    async def get(self) -> None:
        """`{segmentKey}`: `data.segmentKey` of the segment-key Secret, decoded; "" when the
        plugin config (`segment_key_enabled: false`) or the ConfigMap
        (`segmentKeyEnabled: "false"`) turns it off, or when there is none.

        Service account, any signed-in user: a public analytics write key (the browser's
        analytics script sends it with every event); the old backend sent it to everyone.
        This is the only Secret content odh-core returns."""
        self.caches()  # 503 without a cluster
        key = await current_segment_key(self.plugin)
        self.set_header("Cache-Control", "no-store")
        self.write_json({"segmentKey": key})


async def current_segment_key(plugin: Any) -> str:
    """The segment key in force ("" when off or none); the shell's CSP follows it too."""
    cfg = plugin.config
    caches = getattr(plugin, "boot_caches", None)
    if caches is None or not cfg.segment_key_enabled:
        return ""
    switch = await caches.get(caches.config_maps, cfg.segment_key_configmap, caches.namespace)
    value = str(((switch or {}).get("data") or {}).get("segmentKeyEnabled", "true"))
    if value.strip().lower() == "false":
        return ""
    return decode_segment_key(await caches.get(caches.segment_secret, cfg.segment_key_secret,
                                               caches.namespace))


def boot_routes() -> list[Route]:
    return [
        Route(r"/api/dsc/status", DscStatusHandler,
              description="Status of the first DataScienceCluster."),
        Route(r"/api/dsci/status", DsciStatusHandler,
              description="Status of the first DSCInitialization."),
        Route(r"/api/builds", BuildsHandler, description="Notebook image builds and phases."),
        Route(r"/api/components", ComponentsHandler,
              description="OdhApplications (?installed=true: the enabled ones, with links)."),
        # /api/integrations/nim (NimHandler's GET plus the admin writes) is in nim.py.
        Route(r"/api/console-links", ConsoleLinksHandler, description="ConsoleLinks."),
        Route(r"/api/quickstarts", QuickStartsHandler, description="OdhQuickStarts."),
        Route(r"/api/segment-key", SegmentKeyHandler, description="The analytics key."),
    ]

