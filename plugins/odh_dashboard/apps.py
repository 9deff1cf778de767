"""Applications (COMPAT.md §3 "apps"): removing an app from the Enabled page, ISV enablement
(`/api/validate-isv[/results]`), the documents list and the operator's OLM subscription.

`/api/docs` and `/api/operator-subscription-status` answer from watch caches (`AppsCaches`, one
informer per kind, started on first use like the boot caches); the writes are admin routes that
use the service account after the admin check, on dashboard-namespace objects only.
"""
from __future__ import annotations

import asyncio
import json
from typing import Any

from odh_core import SERVICE_ACCOUNT, ApiError, KubeClient, KubeError, Route, requires

from .boot import BootHandler, _flag_on, _meta, _spec
from .boot_caches import api_path
from .informer import Informer
from .names import check_subdomain

DOCS = ("dashboard.opendatahub.io", "v1", "odhdocuments")
SUBSCRIPTIONS = ("operators.coreos.com", "v1alpha1", "subscriptions")
DASHBOARD_LABEL = {"opendatahub.io/dashboard": "true"}
MAX_VALUES_LEN = 64 * 1024


class AppsCaches:
    """Informers behind /api/docs and /api/operator-subscription-status (service account)."""

    def __init__(self, kube: KubeClient, namespace: str, *, sync_timeout: float,
                 watch_timeout: int):
        self.sync_timeout = sync_timeout
        self.docs = Informer(kube, api_path(DOCS, namespace), watch_timeout=watch_timeout)
        self.subscriptions = Informer(kube, api_path(SUBSCRIPTIONS), watch_timeout=watch_timeout)
        self.stopped = False

    async def items(self, informer: Informer) -> list[dict[str, Any]]:
        """The cached objects (a kind that is not served counts as synced and empty)."""
        if self.stopped:
            raise ApiError(503, "the dashboard's caches are not running")
        informer.start()  # idempotent
        if not await informer.wait_synced(self.sync_timeout):
            raise ApiError(503, f"the cache of {informer.path} is not ready yet"
                           + (f": {informer.last_error}" if informer.last_error else ""))
        return [informer.objects[k] for k in sorted(informer.objects)]

    async def stop(self) -> None:
        self.stopped = True
        await asyncio.gather(self.docs.stop(), self.subscriptions.stop())


class AppsHandler(BootHandler):
    def apps_caches(self) -> AppsCaches:
        self.caches()  # 503 without an API server, like every cache-backed route
        plugin = self.plugin
        caches = getattr(plugin, "apps_caches", None)
        if caches is None:
            cfg = plugin.config
            caches = AppsCaches(self.kube, self.dashboard_namespace,
                                sync_timeout=cfg.sync_timeout, watch_timeout=cfg.watch_timeout)
            plugin.apps_caches = caches  # type: ignore[attr-defined]
        return caches

    async def find_app(self, name: str) -> dict[str, Any]:
        """The OdhApplication `name` of the dashboard namespace (boot cache); 400 for a bad
        name, 404 when there is none."""
        check_subdomain(name, "appName")
        caches = self.caches()
        app = await caches.get(caches.apps, name, caches.namespace)
        if app is None:
            raise ApiError(404, f"application {name!r} not found", error="Not found")
        return app

    def app_name(self) -> str:
        name = self.get_query_argument("appName", "")
        if not name:
            raise ApiError(400, "the query parameter appName is required")
        return name

    def validation_config_map(self, enable: dict[str, Any]) -> str | None:
        """The app's validation ConfigMap name (checked), or None after answering that the
        app has none (what the Node backend answers, as a 200)."""
        cm_name = enable.get("validationConfigMap")
        if not cm_name:
            self.write_json({"complete": True, "valid": False, "error": "The validation config "
                             "map for the application does not exist."})
            return None
        check_subdomain(cm_name, "validationConfigMap")
        return cm_name

    async def config_map(self, name: str) -> dict[str, Any] | None:
        """A ConfigMap of the dashboard namespace, read now with the service account."""
        try:
            return await self.kube.json(
                "GET", f"/api/v1/namespaces/{self.dashboard_namespace}/configmaps/{name}",
                token=SERVICE_ACCOUNT)
        except KubeError as exc:
            if exc.status == 404:
                return None
            raise


class RemoveComponentHandler(AppsHandler):
    @requires("admin")
    async def get(self) -> None:
        """Remove `?appName=` from the Enabled page: drop its key from the enabled-apps
        ConfigMap (`enabled_apps_configmap`). Answers `{success, error}` as the old backend
        (`success: false` with a message when the ConfigMap cannot be read).

        Service account, after the admin check (a dashboard-namespace ConfigMap)."""
        name = self.app_name()
        check_subdomain(name, "appName")
        cm_name = self.plugin.config.enabled_apps_configmap
        path = f"/api/v1/namespaces/{self.dashboard_namespace}/configmaps/{cm_name}"
        cm = await self.config_map(cm_name)
        if cm is None:
            self.write_json({"success": False,
                             "error": "Error fetching applications shown on enabled page"})
            return
        data = dict(cm.get("data") or {})
        if name in data:
            # A JSON patch with a test on the resourceVersion: a concurrent change makes it
            # fail (409/422) instead of being overwritten.
            ops = [{"op": "test", "path": "/metadata/resourceVersion",
                    "value": _meta(cm).get("resourceVersion")},
                   {"op": "remove", "path": "/data/" + name.replace("~", "~0").replace("/", "~1")}]
            resp = await self.kube.request("PATCH", path, token=SERVICE_ACCOUNT,
                                           data=json.dumps(ops).encode(),
                                           headers={"Content-Type": "application/json-patch+json"})
            if not resp.ok:
                self.write_json({"success": False, "error": "Error removing component: the "
                                 f"API server answered {resp.status}"})
                return
        self.write_json({"success": True, "error": ""})


def parse_values(raw: str) -> dict[str, str]:
    if len(raw) > MAX_VALUES_LEN:
        raise ApiError(400, "values is too large")
    try:
        values = json.loads(raw) if raw else {}
    except (ValueError, RecursionError):  # RecursionError: nested too deeply
        raise ApiError(400, "values must be a JSON object of strings") from None
    if not isinstance(values, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in values.items()):
        raise ApiError(400, "values must be a JSON object of strings")
    for key in values:
        if not key or len(key) > 253 or not all(c.isalnum() or c in "-._" for c in key):
            raise ApiError(400, f"{key!r} is not a valid Secret data key")
    return values


class ValidateIsvHandler(AppsHandler):
    @requires("admin")
    async def get(self) -> None:
        """Enable an ISV application: `?appName=&values={json}`. Answers `{complete, valid,
        error}` as the old backend.

        Apps with enablement variables: the values are stored in the app's
        `enable.validationSecret` (with `configMapName`), then the manual run of its
        `enable.validationJob` CronJob is started (`<cronjob>-job-custom-run`);
        `complete: false` until `/api/validate-isv/results` sees that Job finish. Apps without
        variables: the `enable.validationConfigMap` gets `validation_result: "true"`.

        Service account, after the admin check (dashboard-namespace Secret/ConfigMap/Job)."""
        app = await self.find_app(self.app_name())
        values = parse_values(self.get_query_argument("values", ""))
        enable = _spec(app).get("enable") or {}
        if enable.get("variables"):
            self.write_json(await self.run_validation(enable, values))
            return
        cm_name = self.validation_config_map(enable)
        if cm_name is None:
            return
        if await self.config_map(cm_name) is None:
            resp = await self.kube.request(
                "POST", f"/api/v1/namespaces/{self.dashboard_namespace}/configmaps",
                token=SERVICE_ACCOUNT, json={
                    "apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": cm_name, "namespace": self.dashboard_namespace},
                    "data": {"validation_result": "true"}})
            if not resp.ok and resp.status != 409:
                self.write_json({"complete": True, "valid": False,
                                 "error": "Error adding validation flag."})
                return
        valid = await self.validation_result(cm_name)
        self.write_json({"complete": True, "valid": valid,
                         "error": "" if valid else "Error adding validation flag."})

    async def run_validation(self, enable: dict[str, Any],
                             values: dict[str, str]) -> dict[str, Any]:
        ns = self.dashboard_namespace
        secret_name = enable.get("validationSecret")
        if secret_name:
            check_subdomain(secret_name, "validationSecret")
            data = dict(values)
            if enable.get("validationConfigMap"):
                data["configMapName"] = enable["validationConfigMap"]
            await self.store_secret(secret_name, data)
        cronjob = enable.get("validationJob")
        if not cronjob:
            return {"complete": True, "valid": False, "error": "Validation job is undefined."}
        check_subdomain(cronjob, "validationJob")
        try:
            cron = await self.kube.json(
                "GET", f"/apis/batch/v1/namespaces/{ns}/cronjobs/{cronjob}", token=SERVICE_ACCOUNT)
        except KubeError as exc:
            if exc.status == 403:  # odh-core's own RBAC: say so rather than "missing"
                self.plugin.log.warning("may not read the validation CronJob %s/%s", ns, cronjob)
                return {"complete": True, "valid": False, "error": "odh-core may not read the "
                        "validation job of the application."}
            if exc.status != 404:
                raise
            return {"complete": True, "valid": False,
                    "error": "The validation job for the application does not exist."}
        job_name = f"{cronjob}-job-custom-run"
        jobs = f"/apis/batch/v1/namespaces/{ns}/jobs"
        await self.kube.request("DELETE", f"{jobs}/{job_name}", token=SERVICE_ACCOUNT,
                                params={"propagationPolicy": "Background"})
        job_spec = ((_spec(cron).get("jobTemplate") or {}).get("spec")) or {}
        resp = await self.kube.request("POST", jobs, token=SERVICE_ACCOUNT, json={
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": job_name, "namespace": ns, "labels": dict(DASHBOARD_LABEL),
                         "annotations": {"cronjob.kubernetes.io/instantiate": "manual"}},
            "spec": job_spec})
        if not resp.ok:
            return {"complete": True, "valid": False, "error": "Failed to create validation job."}
        return {"complete": False, "valid": False, "error": None}

    async def store_secret(self, name: str, data: dict[str, str]) -> None:
        path = f"/api/v1/namespaces/{self.dashboard_namespace}/secrets"
        secret = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "stringData": data,
                  "metadata": {"name": name, "namespace": self.dashboard_namespace,
                               "labels": dict(DASHBOARD_LABEL)}}
        resp = await self.kube.request("POST", path, token=SERVICE_ACCOUNT, json=secret)
        if resp.status == 409:
            resp = await self.kube.request("PUT", f"{path}/{name}", token=SERVICE_ACCOUNT,
                                           json=secret)
        if not resp.ok:
            raise ApiError(resp.status if resp.status < 600 else 502,
                           f"Unable to store the validation Secret {name!r} (the API server "
                           f"answered {resp.status})")

    async def validation_result(self, cm_name: str) -> bool:
        cm = await self.config_map(cm_name)
        return ((cm or {}).get("data") or {}).get("validation_result") == "true"


class ValidateIsvResultsHandler(ValidateIsvHandler):
    @requires("admin")
    async def get(self) -> None:
        """The outcome of the last `/api/validate-isv` of `?appName=`: `{complete, valid,
        error}` from its validation Job (while one runs) and its validation ConfigMap.

        Service account, after the admin check (dashboard-namespace objects)."""
        app = await self.find_app(self.app_name())
        enable = _spec(app).get("enable") or {}
        cm_name = self.validation_config_map(enable)
        if cm_name is None:
            return
        if enable.get("variables"):
            cronjob = enable.get("validationJob")
            if not cronjob:
                self.write_json({"complete": True, "valid": False,
                                 "error": "Validation job is undefined."})
                return
            check_subdomain(cronjob, "validationJob")
            try:
                job = await self.kube.json(
                    "GET", f"/apis/batch/v1/namespaces/{self.dashboard_namespace}/jobs/"
                    f"{cronjob}-job-custom-run", token=SERVICE_ACCOUNT)
            except KubeError:
                self.write_json({"complete": True, "valid": False,
                                 "error": "Failed to create validation job."})
                return
            status = job.get("status") or {}
            if not (status.get("succeeded") or status.get("failed")):
                self.write_json({"complete": False, "valid": False, "error": None})
                return
        valid = await self.validation_result(cm_name)
        self.write_json({"complete": True, "valid": valid, "error": "" if valid else
                         "Error attempting to validate. Please check your entries."})


class DocsHandler(AppsHandler):
    async def get(self) -> None:
        """The OdhDocuments of the dashboard namespace (`?type=` keeps one `spec.type`): those
        behind a feature flag only when it is on, the others only when their `spec.appName`
        is a listed application; `jupyter` ones only while the notebook controller is enabled.

        Service account (watch cache), any signed-in user: documentation links (not
        sensitive); the old backend served them the same way."""
        doc_type = self.get_query_argument("type", "")
        spec = await self.dashboard_spec()
        flags = spec.get("dashboardConfig") or {}
        jupyter = (spec.get("notebookController") or {}).get("enabled") is not False
        boot = self.caches()
        apps = {_meta(a).get("name") for a in await boot.items(boot.apps)}
        caches = self.apps_caches()
        out = []
        for doc in await caches.items(caches.docs):
            dspec = _spec(doc)
            if dspec.get("featureFlag"):
                if not _flag_on(flags, dspec["featureFlag"]):
                    continue
            elif dspec.get("appName") and dspec["appName"] not in apps:
                continue
            if dspec.get("appName") == "jupyter" and not jupyter:
                continue
            if doc_type and dspec.get("type") != doc_type:
                continue
            out.append(doc)
        self.write_json(out)


def subscription_status(subs: list[dict[str, Any]],
                        names: list[str]) -> dict[str, Any] | None:
    """The first Subscription whose package (`spec.name`) or name starts with one of `names`,
    in that order of preference, as `{installedCSV, installPlanRefNamespace}` (the frontend's
    SubscriptionStatusData)."""
    for prefix in names:
        for sub in subs:
            if str(_spec(sub).get("name") or "").startswith(prefix) or \
                    str(_meta(sub).get("name") or "").startswith(prefix):
                status = sub.get("status") or {}
                out: dict[str, Any] = {"installedCSV": status.get("installedCSV"),
                                       "installPlanRefNamespace":
                                       (status.get("installPlanRef") or {}).get("namespace")}
                return {k: v for k, v in out.items() if v is not None}
    return None


class OperatorSubscriptionHandler(AppsHandler):
    async def get(self) -> None:
        """`{installedCSV, installPlanRefNamespace}` of the operator's OLM Subscription
        (operators.coreos.com/v1alpha1; package names in `operator_subscription_names`); 404
        when there is none or OLM is not installed.

        Service account (watch cache, cluster-wide), any signed-in user: the installed
        operator version (not sensitive); the old backend served it the same way."""
        caches = self.apps_caches()
        subs = await caches.items(caches.subscriptions)
        status = subscription_status(subs, list(self.plugin.config.operator_subscription_names))
        if status is None:
            raise ApiError(404, "Unable to get subscription information",
                           error="Subscription unavailable")
        self.write_json(status)


def apps_routes() -> list[Route]:
    return [
        Route(r"/api/components/remove", RemoveComponentHandler,
              description="Remove ?appName= from the Enabled page (admin).",
              state_changing_get=True),
        Route(r"/api/validate-isv", ValidateIsvHandler,
              description="Enable an ISV app: ?appName=&values={json} (admin).",
              state_changing_get=True),
        Route(r"/api/validate-isv/results", ValidateIsvResultsHandler,
              description="Result of the last ISV validation of ?appName= (admin)."),
        Route(r"/api/docs", DocsHandler, description="OdhDocuments (?type= filters)."),
        Route(r"/api/operator-subscription-status", OperatorSubscriptionHandler,
              description="The operator's OLM Subscription status (404 if none)."),
    ]
