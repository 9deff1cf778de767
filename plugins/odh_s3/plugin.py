"""The s3 plugin: routes, startup (S3 client, settings store, sandbox S3) and shutdown."""
from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

from odh_core import HealthCheck, Plugin, Route, hookimpl

from .access import S3Access, S3NotConfigured
from .config import S3Config
from .connection import S3Connection
from .misc import ApiRootHandler, KernelsHandler, TerminalsHandler
from .objects import (BucketHandler, BucketsHandler, DownloadHandler, ObjectsHandler,
                      ViewHandler)
from .progress import ProgressRegistry
from .settings import SettingsManager
from .settings_routes import (DisclaimerHandler, ProxySettingsHandler, S3SettingsHandler,
                              TestProxyHandler, TestS3Handler, TransfersHandler)
from .static import static_routes
from .store import FileStore, KubeStore, SettingsStore
from .upload import AbortUploadHandler, UploadHandler, UploadProgressHandler

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
        self._refresher: asyncio.Task[None] | None = None

    def require_access(self) -> S3Access:
        if self.access is None or not self.access.configured:
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
                  description="Abort this user's upload(s)."),
            Route(rf"{objects}/(?!(?:{_RESERVED})(?:/|$)){BUCKET}(?:/{REST})?/?",
                  ObjectsHandler, description="List (GET) or delete (DELETE) objects."),
            Route(r"/api/settings/s3", S3SettingsHandler,
                  description="ODH-TEC: S3 connection `{settings}`, secret masked (PUT admin)."),
            Route(r"/api/settings/test-s3", TestS3Handler,
                  description="ODH-TEC: test S3 settings (admin)."),
            Route(r"/api/settings/max-concurrent-transfers", TransfersHandler,
                  description="ODH-TEC: `{maxConcurrentTransfers}` (PUT admin)."),
            Route(r"/api/settings/proxy", ProxySettingsHandler,
                  description="ODH-TEC: `{settings: {httpProxy, httpsProxy}}` (PUT admin)."),
            Route(r"/api/settings/test-proxy", TestProxyHandler,
                  description="ODH-TEC: test the proxy against the S3 endpoint (admin)."),
            Route(r"/api/disclaimer", DisclaimerHandler,
                  description="ODH-TEC: the disclaimer answer `{disclaimer: {status}}`."),
        ]
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
            if self.access is None or not self.access.configured:
                return  # not configured is a setting, not an outage
            client = await self.access.client()
            if self.access.default_bucket:
                await client.head_bucket(Bucket=self.access.default_bucket)
            else:
                await client.list_buckets()

        return [HealthCheck("s3", s3_reachable, timeout=3.0, critical=False)]

    def _store(self, app: Any) -> SettingsStore:
        cfg: S3Config = self.config
        use_kube = cfg.settings_store == "kube" or (cfg.settings_store == "auto"
                                                     and app.has_kube)
        if use_kube:
            return KubeStore(app.kube, app.settings.kubernetes.dashboard_namespace,
                             cfg.settings_secret, cfg.settings_configmap)
        state = Path(cfg.state_dir or app.settings.sandbox.state_dir)
        return FileStore(state / "s3-settings.json")

    @hookimpl
    async def startup(self, app: Any) -> None:
        cfg: S3Config = self.config
        base = connection_from_config(cfg)
        store = self._store(app)
        self.access = S3Access(S3Connection(), cfg.max_concurrent_transfers,
                               parts_in_flight=cfg.parts_in_flight, part_size=cfg.part_size)
        self.settings = SettingsManager(base, cfg.max_concurrent_transfers,
                                        cfg.disclaimer_default, store, self.access,
                                        cfg.settings_ttl)
        try:
            overlay = await store.load()
        except Exception as exc:
            self.log.warning("persisted S3 settings unreadable at start (%s); using the "
                             "configured ones", type(exc).__name__)
            overlay = {}
        if not self.settings.connection(overlay).configured and app.sandbox is not None:
            sb = await app.sandbox.ensure_s3()
            self.settings.base = base.with_(
                endpoint=sb.endpoint, access_key_id=sb.access_key,
                secret_access_key=sb.secret_key, region=sb.region,
                default_bucket=base.default_bucket or sb.default_bucket)
        await self.settings._apply(overlay)
        if not self.access.configured:
            self.log.warning("S3 is not configured: S3 routes answer 503 until an admin sets "
                             "it (PUT /api/settings/s3) or AWS_S3_ENDPOINT etc. are set")
        app.provide("s3.access", self.access)
        self._refresher = asyncio.create_task(self.settings.run())

    @hookimpl
    async def shutdown(self, app: Any) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            try:
                await self._refresher
            except (asyncio.CancelledError, Exception):
                pass
        if self.access is not None:
            await self.access.close()
