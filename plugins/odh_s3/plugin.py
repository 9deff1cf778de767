"""The s3 plugin: routes, startup (S3 client, settings store, sandbox S3) and shutdown."""
from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

from odh_core import HealthCheck, Plugin, Route, hookimpl

from .access import S3Access, S3NotConfigured
from .base import document_source_parameter
from .config import S3Config
from .guide import WHO_REACHES_WHICH_BUCKET
from .connection import S3Connection
from .misc import ApiRootHandler, KernelsHandler, TerminalsHandler
from .objects import (BucketHandler, BucketsHandler, DownloadHandler, ObjectsHandler,
                      ViewHandler)
from .progress import ProgressRegistry
from .sandbox_seeds import seed_sandbox_connections
from .settings import SettingsManager
from .settings_routes import (DisclaimerHandler, ProxySettingsHandler, S3SettingsHandler,
                              TestProxyHandler, TestS3Handler, TransfersHandler)
from .source_routes import CurrentSourceHandler, SourcesHandler
from .static import static_routes
from .store import FileStore, KubeStore, SettingsStore
from .upload import AbortUploadHandler, UploadHandler, UploadProgressHandler
from .user_store import UserStore
from .watch import SecretWatch

REAP_EVERY_S = 30.0
SOURCE_SCHEMA = {"type": "object", "properties": {
    "id": {"type": "string"}, "kind": {"type": "string"}, "name": {"type": "string"},
    "bucket": {"type": "string"}, "endpoint": {"type": "string"},
    "namespace": {"type": "string"}}}
SOURCES_SCHEMA = {"type": "object", "properties": {
    "current": {"type": ["string", "null"]},
    "sources": {"type": "array", "items": SOURCE_SCHEMA}}}

# First path segments under /api/objects/ that are routes, not bucket names (the hf plugin
# owns hf-import and import-model-progress).
_RESERVED = "view|download|upload|upload-progress|abort-upload|hf-import|import-model-progress"
BUCKET = r"([^/]+)"
REST = r"(.+)"  # base64 may contain "/": capture to the end of the path


def connection_from_config(cfg: S3Config) -> S3Connection:
    return S3Connection(
        endpoint=cfg.endpoint, access_key_id=cfg.access_key_id,
        secret_access_key=cfg.secret_access_key.get_secret_value()
        if cfg.secret_access_key else "",
        region=cfg.region, default_bucket=cfg.default_bucket, http_proxy=cfg.http_proxy,
        https_proxy=cfg.https_proxy, no_proxy=cfg.no_proxy, ca_bundle=cfg.ca_bundle,
        verify=cfg.verify_tls)


class S3Plugin(Plugin):
    Config = S3Config
    operator_guide = {"Who can reach which bucket": WHO_REACHES_WHICH_BUCKET}
    access: S3Access | None = None
    settings: SettingsManager | None = None

    def __init__(self, ctx: Any):
        super().__init__(ctx)
        self.progress = ProgressRegistry()
        self.download_bytes = ctx.metrics.counter(
            "odh_s3_download_bytes_total", "Bytes of downloads and views sent in full, by "
            "relay: zero_copy (splice, inside the kernel) or stream (through the event loop).",
            ["relay"])
        self.last_activity = time.time()
        self._reaper: asyncio.Task[None] | None = None
        self._watches: list[SecretWatch] = []

    def require_access(self) -> S3Access:
        if self.access is None:
            raise S3NotConfigured()
        return self.access

    @hookimpl
    def register_routes(self) -> list[Route]:
        objects = r"/api/objects"
        routes = [
            Route(r"/api", ApiRootHandler, description="Liveness of the ODH-TEC API."),
            Route(r"/api/kernels", KernelsHandler, description="Idle-culler contract."),
            Route(r"/api/terminals", TerminalsHandler, description="Idle-culler contract."),
            Route(r"/api/buckets", BucketsHandler, description="List or create buckets."),
            Route(rf"/api/buckets/{BUCKET}", BucketHandler, description="Delete a bucket."),
            Route(rf"{objects}/view/{BUCKET}/{REST}", ViewHandler,
                  description="An object's bytes inline (size-capped)."),
            Route(rf"{objects}/download/{BUCKET}/{REST}", DownloadHandler,
                  description="Stream an object as an attachment (Range supported)."),
            Route(rf"{objects}/upload/{BUCKET}/{REST}", UploadHandler,
                  description="Streaming multipart/form-data upload into S3."),
            Route(rf"{objects}/upload-progress/{REST}", UploadProgressHandler,
                  description="Upload progress as server-sent events."),
            Route(rf"{objects}/abort-upload(?:/{REST})?", AbortUploadHandler,
                  description="Abort this user's upload(s).", state_changing_get=True),
            Route(rf"{objects}/(?!(?:{_RESERVED})(?:/|$)){BUCKET}(?:/{REST})?/?",
                  ObjectsHandler, description="List (GET) or delete (DELETE) objects."),
            Route(r"/api/s3/sources", SourcesHandler, envelope=True,
                  description="The S3 sources the caller may use (shared, their own settings, "
                  "their projects' S3 connections) and their current one.",
                  responses={200: SOURCES_SCHEMA}),
            Route(r"/api/s3/source", CurrentSourceHandler, envelope=True,
                  description="The caller's current S3 source: GET it, PUT `{source}` to "
                  "choose (kept in the cluster), `{source: null}` to reset.",
                  request_body={"type": "object", "required": ["source"], "properties": {
                      "source": {"type": ["string", "null"],
                                 "description": "shared | user | conn:<namespace>/<name>"}}},
                  responses={200: SOURCE_SCHEMA}),
            Route(r"/api/settings/s3", S3SettingsHandler,
                  description="ODH-TEC: S3 settings `{settings}`, secret masked: the shared "
                  "S3 for admins, the caller's own otherwise (PUT saves the same)."),
            Route(r"/api/settings/test-s3", TestS3Handler,
                  description="ODH-TEC: test S3 settings (admins: any; users: their own, on an "
                  "allowed endpoint)."),
            Route(r"/api/settings/max-concurrent-transfers", TransfersHandler,
                  description="ODH-TEC: `{maxConcurrentTransfers}`: the caller's own (PUT, up "
                  "to the admin maximum); an admin's PUT sets the maximum."),
            Route(r"/api/settings/proxy", ProxySettingsHandler,
                  description="ODH-TEC: `{settings: {httpProxy, httpsProxy}}` (PUT admin)."),
            Route(r"/api/settings/test-proxy", TestProxyHandler,
                  description="ODH-TEC: fetch the Test URL through the proxy (admin)."),
            Route(r"/api/disclaimer", DisclaimerHandler,
                  description="ODH-TEC: the caller's disclaimer answer `{disclaimer: {status}}`."),
        ]
        for route in routes:
            document_source_parameter(route.handler)
        nb_prefix = os.environ.get("NB_PREFIX", "").rstrip("/")
        if nb_prefix and nb_prefix.startswith("/"):
            # The notebook controller's culler polls <NB_PREFIX>/api/kernels.
            routes += [Route(rf"{nb_prefix}/api/kernels", KernelsHandler,
                             description="Idle-culler contract (under NB_PREFIX)."),
                       Route(rf"{nb_prefix}/api/terminals", TerminalsHandler,
                             description="Idle-culler contract (under NB_PREFIX).")]
        return routes + static_routes(self.config)

    @hookimpl
    def register_health_checks(self) -> list[HealthCheck]:
        async def s3_reachable() -> None:
            if self.access is None:
                return
            await self.access.loaded()
            if not self.access.configured:
                return  # not configured is a setting, not an outage
            client = await self.access.client()
            if self.access.default_bucket:
                await client.head_bucket(Bucket=self.access.default_bucket)
            else:
                await client.list_buckets()

        return [HealthCheck("s3", s3_reachable, timeout=3.0, critical=False)]

    def _use_kube(self, app: Any) -> bool:
        cfg: S3Config = self.config
        return cfg.settings_store == "kube" or (cfg.settings_store == "auto" and app.has_kube)

    def _store(self, app: Any) -> SettingsStore:
        cfg: S3Config = self.config
        if self._use_kube(app):
            return KubeStore(app.kube, app.settings.kubernetes.dashboard_namespace,
                             cfg.settings_secret, cfg.settings_configmap)
        state = Path(cfg.state_dir or app.settings.sandbox.state_dir)
        return FileStore(state / "s3-settings.json")

    def _user_store(self, app: Any) -> UserStore:
        cfg: S3Config = self.config
        if self._use_kube(app):
            return UserStore(kube=app.kube, namespace=app.settings.kubernetes.dashboard_namespace,
                             ttl=cfg.user_settings_ttl)
        state = Path(cfg.state_dir or app.settings.sandbox.state_dir)
        return UserStore(path=state / "s3-users", ttl=cfg.user_settings_ttl)

    def _start_watches(self, app: Any) -> None:
        """Watch the shared settings instead of polling them (users' own settings are read
        lazily, per shard, after user_settings_ttl)."""
        cfg: S3Config = self.config
        assert self.settings is not None
        ns = app.settings.kubernetes.dashboard_namespace
        shared = [SecretWatch(app.kube, f"/api/v1/namespaces/{ns}/{kind}",
                              {"fieldSelector": f"metadata.name={name}"},
                              self.settings.on_change)
                  for kind, name in (("secrets", cfg.settings_secret),
                                     ("configmaps", cfg.settings_configmap))]
        self.settings.watches = shared
        self._watches = shared
        for watch in self._watches:
            watch.start()

    async def _reap(self) -> None:
        """Close S3 clients retired by a settings change or eviction (local work only)."""
        while True:
            await asyncio.sleep(REAP_EVERY_S)
            if self.access is not None:
                await self.access.reap()

    @hookimpl
    async def startup(self, app: Any) -> None:
        cfg: S3Config = self.config
        base = connection_from_config(cfg)
        store = self._store(app)
        users = self._user_store(app)
        self.access = S3Access(
            S3Connection(), cfg.max_concurrent_transfers, parts_in_flight=cfg.parts_in_flight,
            part_size=cfg.part_size, max_clients=cfg.max_clients,
            total_transfers=cfg.max_transfers_total, user_store=users,
            shared_groups=tuple(cfg.shared_groups),
            allowed_endpoints=tuple(cfg.allowed_endpoints),
            connection_ttl=cfg.connection_ttl,
            scope_connections=cfg.scope_connections_to_bucket)
        self.settings = SettingsManager(base, cfg.max_concurrent_transfers,
                                        cfg.disclaimer_default, store, self.access,
                                        cfg.settings_ttl)
        app.provide("s3.access", self.access)
        # The persisted settings (two API-server reads) and the sandbox's S3 load once the
        # server listens, not before: S3 routes, `s3.access` users and the /readyz check wait
        # for them; nothing else does.
        self.access.loading = asyncio.ensure_future(self._load_settings(app, base, store))
        self._reaper = asyncio.create_task(self._reap())

    async def _load_settings(self, app: Any, base: S3Connection, store: SettingsStore) -> None:
        assert self.settings is not None and self.access is not None
        try:
            overlay = await store.load()
        except Exception as exc:
            self.log.warning("persisted S3 settings unreadable at start (%s); using the "
                             "configured ones", type(exc).__name__)
            overlay = {}
        try:
            if not self.settings.connection(overlay).configured and app.sandbox is not None:
                sb = await app.sandbox.ensure_s3()
                self.settings.base = base.with_(
                    endpoint=sb.endpoint, access_key_id=sb.access_key,
                    secret_access_key=sb.secret_key, region=sb.region,
                    default_bucket=base.default_bucket or sb.default_bucket)
                await seed_sandbox_connections(app, sb)
            await self.settings._apply(overlay)
        except Exception:
            # Logged in full (no secret is in these errors); S3 routes answer 503 meanwhile.
            self.log.exception("applying the S3 settings failed")
        if not self.access.configured:
            self.log.warning("S3 is not configured: S3 routes answer 503 until an admin sets "
                             "it (PUT /api/settings/s3) or AWS_S3_ENDPOINT etc. are set")
        if isinstance(store, KubeStore):
            self._start_watches(app)

    @hookimpl
    async def shutdown(self, app: Any) -> None:
        loading = self.access.loading if self.access is not None else None
        for task in (loading, self._reaper):  # the settings load first: it starts the watches
            if task is not None:
                task.cancel()
                try:
                    await task
                except (asyncio.CancelledError, Exception):
                    pass
        for watch in self._watches:
            await watch.stop()
        if self.access is not None:
            await self.access.close()
