"""`GET /api/status` and `GET /api/status/user`: who is calling, and which cluster this is."""
from __future__ import annotations

import asyncio
import re
import time
from typing import TYPE_CHECKING, Any

from odh_core import SERVICE_ACCOUNT, ApiError, KubeError, KubeUnavailable

from .base import DashboardHandler

if TYPE_CHECKING:  # pragma: no cover
    from .plugin import DashboardPlugin

# The core's signed dev-identity cookie (odh_core/builtin/identity.py DEV_COOKIE); not part of
# the public API, so named here once.
DEV_COOKIE = "odh-dev-user"
CLUSTER_VERSION = "/apis/config.openshift.io/v1/clusterversions/version"
CONSOLE_OPERATOR = "/apis/operator.openshift.io/v1/consoles/cluster"
KUBE_SYSTEM = "/api/v1/namespaces/kube-system"
DEFAULT_BRANDING = "okd"
RETRY_AFTER_FAILURE = 60.0


class ClusterInfo:
    """Cluster id and branding, read once with the service account and kept (they do not
    change while a process lives); a failed read is retried at most once a minute."""

    def __init__(self, plugin: "DashboardPlugin"):
        self.plugin = plugin
        self._value: tuple[str, str] | None = None
        self._failed_at = 0.0
        self._lock: asyncio.Lock | None = None

    async def get(self) -> tuple[str, str]:
        cfg = self.plugin.config
        if self._value is not None:
            return self._value
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._value is None:
                if time.monotonic() - self._failed_at < RETRY_AFTER_FAILURE:
                    return cfg.cluster_id or "", cfg.cluster_branding or DEFAULT_BRANDING
                kube = self.plugin.ctx.app.kube
                cluster_id, ok_id = await self._cluster_id(kube)
                branding, ok_brand = await self._branding(kube)
                value = (cfg.cluster_id or cluster_id, cfg.cluster_branding or branding)
                if ok_id and ok_brand:
                    self._value = value
                else:
                    self._failed_at = time.monotonic()
                return value
            return self._value

    @staticmethod
    async def _cluster_id(kube: Any) -> tuple[str, bool]:
        """OpenShift's ClusterVersion `spec.clusterID`, else the kube-system namespace uid
        (the usual cluster identity on plain Kubernetes). ok=False: worth asking again."""
        try:
            cv = await kube.json("GET", CLUSTER_VERSION, token=SERVICE_ACCOUNT)
            if (cv.get("spec") or {}).get("clusterID"):
                return cv["spec"]["clusterID"], True
        except KubeError as exc:
            if exc.status not in (403, 404):
                return "", False
        except KubeUnavailable:
            return "", False
        try:
            ns = await kube.json("GET", KUBE_SYSTEM, token=SERVICE_ACCOUNT)
            return (ns.get("metadata") or {}).get("uid", ""), True
        except KubeError as exc:
            return "", exc.status in (403, 404)
        except KubeUnavailable:
            return "", False

    @staticmethod
    async def _branding(kube: Any) -> tuple[str, bool]:
        try:
            console = await kube.json("GET", CONSOLE_OPERATOR, token=SERVICE_ACCOUNT)
        except KubeError as exc:
            return DEFAULT_BRANDING, exc.status in (403, 404)
        except KubeUnavailable:
            return DEFAULT_BRANDING, False
        brand = ((console.get("spec") or {}).get("customization") or {}).get("brand")
        return brand or DEFAULT_BRANDING, True


def kube_context(handler: DashboardHandler) -> tuple[str, dict[str, Any]]:
    """(currentContext, currentUser) in the old backend's words, without any credential."""
    conn = handler.kube.conn
    if conn.sandbox:
        return "sandbox", {"name": "odh-core"}
    if conn.description == "in-cluster":
        return "inClusterContext", {"name": "inClusterUser"}
    m = re.search(r"\(context ([^)]*)\)", conn.description)
    if m:
        return m.group(1), {"name": m.group(1)}
    return "odh-core", {"name": "odh-core"}


class StatusHandler(DashboardHandler):
    """The old dashboard's `{"kube": {...}}`: identity and admin answers come from the core's
    per-token caches; the cluster's id and branding are read once (service account, reads)."""

    async def get(self) -> None:
        ident = self.identity
        plugin = self.plugin
        is_admin = await self.is_admin()
        allowed_groups = set(plugin.config.allowed_groups)
        is_allowed = is_admin or "system:authenticated" in allowed_groups or bool(
            allowed_groups & set(ident.groups))
        cluster_id, branding = await plugin.cluster.get()
        context, user = kube_context(self)
        kube: dict[str, Any] = {
            "currentContext": context,
            "currentUser": user,
            "namespace": self.dashboard_namespace,
            "userName": ident.username,
            "userID": ident.uid or ident.username,
            "clusterID": cluster_id,
            "clusterBranding": branding,
            "isAdmin": is_admin,
            "isAllowed": is_allowed,
            "serverURL": self.kube.host,
        }
        if plugin.dev_mode:
            kube["isImpersonating"] = is_impersonating(self)
        self.write_json({"kube": kube})


def is_impersonating(handler: DashboardHandler) -> bool:
    """Dev mode: this browser session carries the impersonation cookie and no token of its own
    (a token always wins over the cookie in the core's dev identity provider)."""
    if handler.request_token():
        return False
    chosen = handler.get_signed_cookie(DEV_COOKIE, max_age_days=1)
    return chosen is not None and chosen.decode() != handler.odh.settings.auth.dev_user


class StatusUserHandler(DashboardHandler):
    """The calling user: `{username, groups, isAdmin, namespace}`."""

    async def get(self) -> None:
        ident = self.identity
        if not ident.username:
            raise ApiError(401, "no user")
        self.write_json({"username": ident.username, "groups": list(ident.groups),
                         "isAdmin": await self.is_admin(),
                         "namespace": self.dashboard_namespace})
