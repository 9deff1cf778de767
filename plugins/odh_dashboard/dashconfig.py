"""The OdhDashboardConfig: a watch-fed copy of the object, merged over the built-in defaults.

Order of precedence, lowest first (documented in conf and the README of the plugin):
built-in defaults (COMPAT.md §4) < the object in the cluster < the old backend's forced flags
(plugin config `forced_flags`, default `disableFineTuning: true, mlflow: true`) < the
request's `x-odh-feature-flags` header. The header wins over everything because it exists for
people trying a flag in their own browser session; it changes nothing stored.
"""
from __future__ import annotations

import json
from typing import Any, Mapping

from odh_core import SERVICE_ACCOUNT, ApiError, KubeClient, KubeError

from .defaults import (CONFIG_GROUP, CONFIG_KIND, CONFIG_NAME, CONFIG_PLURAL, CONFIG_VERSION,
                       DASHBOARD_LABEL, deep_merge, default_config)
from .informer import Informer

FLAGS_HEADER = "x-odh-feature-flags"
MAX_FLAGS_HEADER = 16 * 1024


def collection_path(namespace: str) -> str:
    return f"/apis/{CONFIG_GROUP}/{CONFIG_VERSION}/namespaces/{namespace}/{CONFIG_PLURAL}"


def object_path(namespace: str) -> str:
    return f"{collection_path(namespace)}/{CONFIG_NAME}"


def parse_flags_header(raw: str | None) -> dict[str, Any]:
    """The per-request flag override: a JSON object of flag -> boolean; 400 when it is not."""
    if raw is None or not raw.strip():
        return {}
    if len(raw) > MAX_FLAGS_HEADER:
        raise ApiError(400, f"{FLAGS_HEADER} is too large")
    try:
        flags = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested too deeply
        raise ApiError(400, f"{FLAGS_HEADER} is not valid JSON: {exc}") from None
    if not isinstance(flags, dict):
        raise ApiError(400, f"{FLAGS_HEADER} must be a JSON object of flag names to booleans")
    bad = [k for k, v in flags.items() if not isinstance(v, bool)]
    if bad:
        raise ApiError(400, f"{FLAGS_HEADER}: flags must be true or false: {', '.join(bad)}")
    return flags


class DashboardConfigStore:
    """Owns the informer on `odh-dashboard-config` in the dashboard namespace."""

    def __init__(self, kube: KubeClient, namespace: str, *, forced_flags: Mapping[str, bool],
                 sync_timeout: float, watch_timeout: int):
        self.kube = kube
        self.namespace = namespace
        self.forced_flags = dict(forced_flags)
        self.sync_timeout = sync_timeout
        self.informer = Informer(kube, collection_path(namespace),
                                 field_selector=f"metadata.name={CONFIG_NAME}",
                                 watch_timeout=watch_timeout)

    def start(self) -> None:
        self.informer.start()

    async def stop(self) -> None:
        await self.informer.stop()

    async def raw(self, *, reread: bool = False) -> dict[str, Any] | None:
        """The object as stored (None when there is none), from the cache unless `reread`.

        Read as the service account: the config is the dashboard's, every signed-in user may
        see it (the old backend served it the same way).
        """
        if not reread and await self.informer.wait_synced(self.sync_timeout):
            return self.informer.get(CONFIG_NAME, self.namespace)
        try:
            obj = await self.kube.json("GET", object_path(self.namespace), token=SERVICE_ACCOUNT)
        except KubeError as exc:
            if exc.status == 404:
                self.informer.discard(CONFIG_NAME, self.namespace)
                return None
            raise
        self.informer.put(obj)
        return obj

    def merged(self, obj: dict[str, Any] | None, overrides: Mapping[str, Any]) -> dict[str, Any]:
        out = deep_merge(default_config(self.namespace), obj or {})
        spec = out.setdefault("spec", {})
        flags = spec.get("dashboardConfig")
        if not isinstance(flags, dict):  # a malformed object must not crash the UI
            flags = spec["dashboardConfig"] = {}
        flags.update(self.forced_flags)
        flags.update(overrides)
        return out

    async def patch(self, body: dict[str, Any]) -> dict[str, Any]:
        """Merge-patch the object as the service account; create it when it does not exist.

        Callers must have done the admin check: this is a write with odh-core's own rights.
        """
        try:
            obj = await self.kube.json(
                "PATCH", object_path(self.namespace), token=SERVICE_ACCOUNT,
                data=json.dumps(body).encode(),
                headers={"Content-Type": "application/merge-patch+json"})
        except KubeError as exc:
            if exc.status != 404:
                raise
            skeleton = {"apiVersion": f"{CONFIG_GROUP}/{CONFIG_VERSION}", "kind": CONFIG_KIND,
                        "metadata": {"name": CONFIG_NAME, "namespace": self.namespace,
                                     "labels": {DASHBOARD_LABEL: "true"}}, "spec": {}}
            new = deep_merge(skeleton, body)
            new["metadata"].update(name=CONFIG_NAME, namespace=self.namespace)
            obj = await self.kube.json("POST", collection_path(self.namespace),
                                       token=SERVICE_ACCOUNT, json=new)
        self.informer.put(obj)
        return obj
