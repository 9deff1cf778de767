"""The `dashboard` plugin: the Open Data Hub dashboard's own routes (COMPAT.md §1, §3)."""
from __future__ import annotations

import os
from typing import Any

from pydantic import Field

from odh_core import Frontend, Plugin, PluginConfig, Route, hookimpl

from .dashconfig import DashboardConfigStore
from .defaults import OLD_BACKEND_FORCED_FLAGS
from .shell import CSP_DOC
from .status import ClusterInfo


class DashboardConfig(PluginConfig):
    forced_flags: dict[str, bool] = Field(
        default_factory=lambda: dict(OLD_BACKEND_FORCED_FLAGS),
        description="spec.dashboardConfig flags forced after the merge, as the old backend did "
        "(disableFineTuning: true, mlflow: true); {} answers what the cluster says.")
    dev_impersonate_user: str = Field(
        "alice", description="Dev mode: the dev user POST /api/dev-impersonate switches a "
        "browser session to (a key of auth.dev_users or a sandbox seed user).")
    allowed_groups: list[str] = Field(
        default_factory=lambda: ["system:authenticated"],
        description="Groups whose members are `isAllowed` in /api/status (admins always are).")
    cluster_branding: str | None = Field(
        None, description="Overrides the console operator's brand in /api/status.")
    cluster_id: str | None = Field(
        None, description="Overrides the ClusterVersion / kube-system uid in /api/status.")
    sync_timeout: float = Field(
        5.0, gt=0, description="Seconds a request waits for a watch cache's first list "
        "before reading the object directly.")
    watch_timeout: int = Field(300, ge=10, description="timeoutSeconds of each cache watch.")
    # -- the frontend shell and the boot routes (shell.py, boot.py) --
    static_dir: str | None = Field(
        default_factory=lambda: os.environ.get("ODH_DASHBOARD_STATIC_DIR") or None,
        description="Directory of a built dashboard frontend (holding index.html) served at "
        "`/`; unset: `/` answers a page saying no build is configured.")
    host: str | None = Field(
        None, pattern=Frontend.HOST_PATTERN, description="Host name (without port) the "
        "dashboard frontend is served on, so another frontend (plugins.s3.static_dir) can own "
        "the root of its own host on the same port (the Host header as received; oauth-proxy "
        "passes it on); unset: every host not claimed by another frontend. The API is on "
        "every host.")
    content_security_policy: str | None = Field(None, description=CSP_DOC)
    segment_key_enabled: bool = Field(
        True, description="false: /api/segment-key answers an empty key whatever the cluster "
        "holds.")
    segment_key_secret: str = Field(
        "odh-segment-key", description="Secret (dashboard namespace) whose data.segmentKey "
        "/api/segment-key answers.")
    segment_key_configmap: str = Field(
        "odh-segment-key-config", description="ConfigMap (dashboard namespace) whose "
        "data.segmentKeyEnabled \"false\" turns the segment key off.")
    enabled_apps_configmap: str = Field(
        default_factory=lambda: os.environ.get("ENABLED_APPS_CM")
        or "odh-enabled-applications-config",
        description="ConfigMap (dashboard namespace) of applications shown on the Enabled "
        "page (name -> \"true\"); default: env ENABLED_APPS_CM.")
    model_registries_namespace: str = Field(
        "odh-model-registries", description="Namespace of the ModelRegistry CRs, their "
        "database-password Secrets and role bindings (/api/modelRegistries*).")
    # -- issue 13 parity routes: apps.py, featurestore.py --
    operator_subscription_names: list[str] = Field(
        default_factory=lambda: ["opendatahub-operator", "rhods-operator"],
        description="OLM Subscription package/name prefixes /api/operator-subscription-status "
        "looks for, in order.")
    featurestore_api_version: str = Field(
        "v1alpha1", pattern=r"^v[0-9a-z]+$",
        description="Version of the feast.dev FeatureStore kind the feature store routes read.")
    feast_registry_url: str = Field(
        default_factory=lambda: (
            f"{{scheme}}://{os.environ['FEAST_REGISTRY_SERVICE_HOST']}:"
            f"{os.environ.get('FEAST_REGISTRY_SERVICE_PORT') or '{port}'}"
            if os.environ.get("FEAST_REGISTRY_SERVICE_HOST") else
            "{scheme}://feast-{name}-registry-rest.{namespace}.svc.cluster.local:{port}"),
        description="Address of a FeatureStore's registry REST service; {name}, {namespace}, "
        "{scheme} (https, http when the CR disables TLS) and {port} are filled in. Default "
        "from env FEAST_REGISTRY_SERVICE_HOST/PORT as the old backend.")
    feast_registry_ca_file: str | None = Field(
        None, description="CA bundle for https registries (default: the in-cluster service CA "
        "when present, else the system CAs).")


class DashboardPlugin(Plugin):
    Config = DashboardConfig

    def __init__(self, ctx: Any):
        super().__init__(ctx)
        self.config_store: DashboardConfigStore | None = None
        self.cluster = ClusterInfo(self)

    @property
    def dev_mode(self) -> bool:
        return self.ctx.app.settings.auth.mode == "dev"

    @hookimpl
    def register_routes(self) -> list[Route]:
        from .boot import boot_routes
        from .cluster_settings import ClusterSettingsHandler
        from .config_routes import ConfigHandler
        from .dev import DevImpersonateHandler
        from .namespaces import NamespaceContextHandler, NamespaceHandler, NamespacesHandler
        from .rolebindings import RoleBindingHandler, RoleBindingsHandler
        from .shell import shell_routes
        from .settings_routes import settings_routes
        from .apps import apps_routes
        from .featurestore import featurestore_routes
        from .nim import nim_routes
        from .ray import ray_routes
        from .status import StatusHandler, StatusUserHandler

        routes = [
            Route(r"/api/status", StatusHandler, description="Who is calling, the cluster."),
            Route(r"/api/status/user", StatusUserHandler, description="The calling user."),
            Route(r"/api/config", ConfigHandler, description="OdhDashboardConfig (PATCH admin)."),
            Route(r"/api/cluster-settings", ClusterSettingsHandler,
                  description="Cluster settings (PUT admin)."),
            Route(r"/api/namespaces", NamespacesHandler, description="Namespaces you may see."),
            Route(r"/api/namespaces/([^/]+)", NamespaceHandler,
                  description="Create / delete a project, as the user."),
            Route(r"/api/namespaces/([^/]+)/([^/]+)", NamespaceContextHandler,
                  description="Label a project for a dashboard use (0..3).",
                  state_changing_get=True),
            Route(r"/api/rolebindings", RoleBindingsHandler,
                  description="Create a RoleBinding, as the user (the image-pullers binding: "
                  "the service account)."),
            Route(r"/api/rolebindings/([^/]+)/([^/]+)", RoleBindingHandler,
                  description="Read a RoleBinding, as the user (the image-pullers binding: "
                  "the service account)."),
            *boot_routes(), *shell_routes(self),  # boot.py, shell.py
            *settings_routes(),  # connection_types, templates, model_registry, notebooks
            *nim_routes(), *apps_routes(), *featurestore_routes(), *ray_routes(),
        ]
        if self.dev_mode:  # outside dev mode the route does not exist: a plain 404
            routes.append(Route(r"/api/dev-impersonate", DevImpersonateHandler,
                                description="Dev mode: impersonate the dev user (per session)."))
        return routes

    @hookimpl
    async def startup(self, app: Any) -> None:
        if not app.has_kube:
            self.log.warning("no Kubernetes API server: dashboard routes will answer 503")
            return
        self.config_store = DashboardConfigStore(
            app.kube, app.settings.kubernetes.dashboard_namespace,
            forced_flags=self.config.forced_flags, sync_timeout=self.config.sync_timeout,
            watch_timeout=self.config.watch_timeout)
        self.config_store.start()
        from .boot_caches import BootCaches  # the boot routes' watch caches (boot.py)

        self.boot_caches = BootCaches(
            app.kube, app.settings.kubernetes.dashboard_namespace,
            segment_key_secret=self.config.segment_key_secret,
            sync_timeout=self.config.sync_timeout, watch_timeout=self.config.watch_timeout)
        self.boot_caches.start()

    @hookimpl
    async def shutdown(self) -> None:
        if self.config_store is not None:
            await self.config_store.stop()
            self.config_store = None
        if getattr(self, "apps_caches", None) is not None:  # apps.py, made on first use
            await self.apps_caches.stop()
            self.apps_caches = None
        if getattr(self, "boot_caches", None) is not None:
            await self.boot_caches.stop()
            self.boot_caches = None
