"""`GET /api/cluster-settings` and admin `PUT`: a composite kept where the old backend kept it.

| field | stored in |
|---|---|
| `pvcSize` (Gi, number) | OdhDashboardConfig `spec.notebookController.pvcSize` (`"<n>Gi"`) |
| `notebookTolerationSettings` | OdhDashboardConfig `spec.notebookController.notebookTolerationSettings` |
| `modelServingPlatformEnabled` | OdhDashboardConfig `spec.dashboardConfig.disableKServe` / `disableModelMesh` |
| `cullerTimeout` (seconds) | ConfigMap `notebook-controller-culler-config`: `ENABLE_CULLING`, `CULL_IDLE_TIME` (minutes), `IDLENESS_CHECK_PERIOD` |
| `userTrackingEnabled` | ConfigMap `odh-segment-key-config`: `segmentKeyEnabled` |

All in the dashboard namespace. A timeout of a year or more means "no culling".
"""
from __future__ import annotations

import json
import re
from typing import Any

from odh_core import SERVICE_ACCOUNT, ApiError, KubeError, requires

from .base import DashboardHandler
from .defaults import (CULLER_CONFIGMAP, CULLER_DISABLED_TIMEOUT, CULLER_MIN_TIMEOUT,
                       DEFAULT_PVC_SIZE_GI, IDLENESS_CHECK_PERIOD, SEGMENT_CONFIGMAP)
from .names import is_qualified_name

MAX_PVC_GI = 16384
DEFAULT_TOLERATION = {"enabled": False, "key": "NotebooksOnly"}
FIELDS = {"pvcSize", "cullerTimeout", "userTrackingEnabled", "modelServingPlatformEnabled",
          "notebookTolerationSettings"}
_SIZE = re.compile(r"^(\d+)(Gi|Ti|Mi)?$")


def pvc_gi(value: Any) -> int:
    """`"20Gi"` -> 20 (Ti and Mi converted, rounded up); the default for anything unreadable."""
    m = _SIZE.match(str(value or "").strip())
    if not m:
        return DEFAULT_PVC_SIZE_GI
    n, unit = int(m.group(1)), m.group(2) or "Gi"
    return n * 1024 if unit == "Ti" else -(-n // 1024) if unit == "Mi" else n


def _bool(body: dict[str, Any], key: str) -> bool:
    if not isinstance(body[key], bool):
        raise ApiError(400, f"{key} must be true or false")
    return body[key]


def validate(body: dict[str, Any]) -> dict[str, Any]:
    """The fields present in a PUT body, checked; 400 names the first bad one."""
    unknown = set(body) - FIELDS
    if unknown:
        raise ApiError(400, f"unknown cluster settings: {', '.join(sorted(unknown))}")
    out: dict[str, Any] = {}
    if "pvcSize" in body:
        size = body["pvcSize"]
        if isinstance(size, str) and _SIZE.match(size) and size.endswith("Gi"):
            size = int(size[:-2])
        if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_PVC_GI:
            raise ApiError(400, f"pvcSize must be a whole number of Gi from 1 to {MAX_PVC_GI}")
        out["pvcSize"] = size
    if "cullerTimeout" in body:
        t = body["cullerTimeout"]
        if isinstance(t, bool) or not isinstance(t, int) or t < CULLER_MIN_TIMEOUT:
            raise ApiError(400, f"cullerTimeout must be a whole number of seconds, at least "
                           f"{CULLER_MIN_TIMEOUT} ({CULLER_DISABLED_TIMEOUT} or more: no culling)")
        out["cullerTimeout"] = min(t, CULLER_DISABLED_TIMEOUT)
    if "userTrackingEnabled" in body:
        out["userTrackingEnabled"] = _bool(body, "userTrackingEnabled")
    if "modelServingPlatformEnabled" in body:
        msp = body["modelServingPlatformEnabled"]
        if not isinstance(msp, dict) or set(msp) - {"kServe", "modelMesh"} or any(
                not isinstance(v, bool) for v in msp.values()):
            raise ApiError(400, "modelServingPlatformEnabled must be {kServe?: bool, "
                           "modelMesh?: bool}")
        out["modelServingPlatformEnabled"] = dict(msp)
    if "notebookTolerationSettings" in body:
        tol = body["notebookTolerationSettings"]
        if tol is not None:
            if not isinstance(tol, dict) or set(tol) - {"enabled", "key"} or \
                    not isinstance(tol.get("enabled", False), bool):
                raise ApiError(400, "notebookTolerationSettings must be {enabled: bool, "
                               "key: string} or null")
            key = tol.get("key", "")
            if (tol.get("enabled") or key) and not is_qualified_name(key):
                raise ApiError(400, f"notebookTolerationSettings.key {key!r} is not a valid "
                               "toleration key")
            tol = {"enabled": bool(tol.get("enabled")), "key": key}
        out["notebookTolerationSettings"] = tol
    return out


def _cm_path(namespace: str, name: str = "") -> str:
    return f"/api/v1/namespaces/{namespace}/configmaps" + (f"/{name}" if name else "")


class ClusterSettingsHandler(DashboardHandler):
    async def _configmap(self, name: str) -> dict[str, str]:
        """A ConfigMap's data in the dashboard namespace ({} if absent), read with the
        service account: these are the dashboard's own fixed objects."""
        try:
            cm = await self.kube.json("GET", _cm_path(self.dashboard_namespace, name),
                                      token=SERVICE_ACCOUNT)
        except KubeError as exc:
            if exc.status == 404:
                return {}
            raise
        return cm.get("data") or {}

    async def _patch_configmap(self, name: str, data: dict[str, str]) -> None:
        """Merge `data` into a ConfigMap of the dashboard namespace, creating it if needed.
        SERVICE ACCOUNT write: only called after the PUT's admin check."""
        path = _cm_path(self.dashboard_namespace, name)
        try:
            await self.kube.json("PATCH", path, token=SERVICE_ACCOUNT,
                                 data=json.dumps({"data": data}).encode(),
                                 headers={"Content-Type": "application/merge-patch+json"})
        except KubeError as exc:
            if exc.status != 404:
                raise
            await self.kube.json(
                "POST", _cm_path(self.dashboard_namespace), token=SERVICE_ACCOUNT,
                json={"apiVersion": "v1", "kind": "ConfigMap", "data": data,
                      "metadata": {"name": name, "namespace": self.dashboard_namespace}})

    async def current(self) -> dict[str, Any]:
        store = self.plugin.config_store
        if store is None:
            raise ApiError(503, "no Kubernetes API server is configured")
        spec = store.merged(await store.raw(), {})["spec"]
        flags = spec.get("dashboardConfig") or {}
        nbc = spec.get("notebookController") or {}
        culler = await self._configmap(CULLER_CONFIGMAP)
        segment = await self._configmap(SEGMENT_CONFIGMAP)
        timeout = CULLER_DISABLED_TIMEOUT
        if culler.get("ENABLE_CULLING") == "true":
            try:
                timeout = int(float(culler.get("CULL_IDLE_TIME", "")) * 60)
            except ValueError:
                timeout = CULLER_DISABLED_TIMEOUT
        tol = nbc.get("notebookTolerationSettings")
        return {
            "pvcSize": pvc_gi(nbc.get("pvcSize")) if nbc.get("pvcSize") else DEFAULT_PVC_SIZE_GI,
            "cullerTimeout": timeout,
            "userTrackingEnabled": segment.get("segmentKeyEnabled") == "true",
            "modelServingPlatformEnabled": {
                "kServe": not flags.get("disableKServe", False),
                "modelMesh": not flags.get("disableModelMesh", True),
            },
            "notebookTolerationSettings": {**DEFAULT_TOLERATION, **tol}
            if isinstance(tol, dict) else dict(DEFAULT_TOLERATION),
        }

    async def get(self) -> None:
        """The settings, for any signed-in user (reads only, with the service account)."""
        self.write_json(await self.current())

    @requires("admin")
    async def put(self) -> None:
        """Validate everything first, then write with the SERVICE ACCOUNT (after this route's
        admin check): one merge patch of the OdhDashboardConfig and the two ConfigMaps."""
        settings = validate(self.json_object())
        store = self.plugin.config_store
        if store is None:
            raise ApiError(503, "no Kubernetes API server is configured")
        spec: dict[str, Any] = {}
        if "modelServingPlatformEnabled" in settings:
            msp = settings["modelServingPlatformEnabled"]
            spec["dashboardConfig"] = {f"disable{k[0].upper()}{k[1:]}": not v
                                       for k, v in msp.items()}
        nbc: dict[str, Any] = {}
        if "pvcSize" in settings:
            nbc["pvcSize"] = f"{settings['pvcSize']}Gi"
        if "notebookTolerationSettings" in settings:
            nbc["notebookTolerationSettings"] = settings["notebookTolerationSettings"]
        if nbc:
            spec["notebookController"] = nbc
        if spec:
            await store.patch({"spec": spec})
        if "cullerTimeout" in settings:
            t = settings["cullerTimeout"]
            enabled = t < CULLER_DISABLED_TIMEOUT
            await self._patch_configmap(CULLER_CONFIGMAP, {
                "ENABLE_CULLING": "true" if enabled else "false",
                "CULL_IDLE_TIME": str(t // 60), "IDLENESS_CHECK_PERIOD": IDLENESS_CHECK_PERIOD})
        if "userTrackingEnabled" in settings:
            await self._patch_configmap(SEGMENT_CONFIGMAP, {
                "segmentKeyEnabled": "true" if settings["userTrackingEnabled"] else "false"})
        self.write_json({"success": True, "error": None, "settings": await self.current()})
