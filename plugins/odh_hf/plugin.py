"""The hf plugin: routes, startup (hub client, token store, jobs) and shutdown.

Needs the s3 plugin (its `app.service("s3.access")` resolves where an import writes, and its
server-wide transfer limiter bounds this replica's transfers) and a Kubernetes API server:
import jobs are ImportJob objects (see jobs.py).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from odh_core import ApiError, Plugin, Route, hookimpl

from .config import DEFAULT_ENDPOINT, HfConfig
from .handlers import (CompatImportHandler, CompatProgressHandler, ImportEventsHandler,
                       ImportHandler, ImportsHandler)
from .hub import HubClient, HubSettings
from .cluster import Cluster
from .jobs import JobManager
from .settings_routes import HfSettingsHandler, HfTestHandler
from .token_store import HfTokens, TokenStore
from .transfer import TransferSettings, TransferStats

JOB_ID = r"([0-9a-f]{16})"
# Before the s3 plugin's generic /api/objects/:bucket/... patterns, which would also match.
COMPAT_ORDER = -10


class S3Missing(ApiError):
    def __init__(self, message: str):
        super().__init__(503, message)


class HfPlugin(Plugin):
    Config = HfConfig
    hub: HubClient
    jobs: JobManager
    token_store: TokenStore
    tokens: HfTokens
    stats: TransferStats
    cli = False

    def __init__(self, ctx: Any):
        super().__init__(ctx)
        metrics = ctx.metrics
        self.stats = TransferStats(
            gauge=metrics.gauge("odh_hf_transfers_in_flight",
                                "Hugging Face file imports holding a transfer slot."),
            downloaded=metrics.counter("odh_hf_downloaded_bytes_total",
                                       "Bytes this replica received from the hub for imports "
                                       "(a takeover's re-download shows here)."))
        self.status_writes = metrics.counter(
            "odh_hf_status_writes_total", "ImportJob status writes this replica sent to the "
                                          "API server (at most one per job per "
                                          "plugins.hf.status_interval).")

    @hookimpl
    def register_routes(self) -> list[Route]:
        return [
            Route(r"/api/hf/imports", ImportsHandler, description="Hugging Face import jobs."),
            Route(rf"/api/hf/imports/{JOB_ID}", ImportHandler,
                  description="One import job; DELETE cancels it."),
            Route(rf"/api/hf/imports/{JOB_ID}/events", ImportEventsHandler,
                  description="Server-sent events of one job until it ends."),
            Route(r"/api/objects/hf-import/([^/]+)/(.+)", CompatImportHandler,
                  order=COMPAT_ORDER, description="ODH-TEC: start a model import.",
                  state_changing_get=True),
            Route(r"/api/objects/import-model-progress", CompatProgressHandler,
                  order=COMPAT_ORDER, description="ODH-TEC: import progress (SSE)."),
            Route(r"/api/settings/huggingface", HfSettingsHandler,
                  description="ODH-TEC: the hub token, masked: the shared one for admins, "
                  "the caller's own otherwise (PUT saves the same)."),
            Route(r"/api/settings/hf", HfSettingsHandler,
                  description="The same as /api/settings/huggingface."),
            Route(r"/api/settings/test-huggingface", HfTestHandler,
                  description="ODH-TEC: test the given token, else the caller's own (an "
                  "admin's: the shared one)."),
        ]

    # -- lifecycle ----------------------------------------------------------------------------
    @property
    def access(self) -> Any:
        """The s3 plugin's `s3.access` (looked up at use: plugins start in any order)."""
        access = self.ctx.app.service("s3.access")
        if access is None:
            raise S3Missing("the hf plugin needs the s3 plugin's S3 access, which is not "
                            "available: enable the s3 plugin (plugins.s3.enabled: true)")
        return access

    # The core runs startup in hook-list order and shutdown in reverse; `tryfirst` puts this
    # plugin at the list's end: it starts after the s3 plugin published `s3.access` and shuts
    # down before it, so cancelled imports can still abort their multipart uploads.
    @hookimpl(tryfirst=True)
    async def startup(self, app: Any) -> None:
        cfg: HfConfig = self.config
        if app.service("s3.access") is None and app.plugin("s3") is None:
            raise S3Missing("the hf plugin imports into S3 through the s3 plugin, which is not "
                            "enabled: set plugins.s3.enabled: true (or disable hf)")
        endpoint = cfg.endpoint
        if not endpoint and app.sandbox is not None:
            endpoint = (await app.sandbox.ensure_hub()).endpoint
        endpoint = endpoint or DEFAULT_ENDPOINT
        self.hub = HubClient(HubSettings(
            endpoint=endpoint, http_proxy=cfg.http_proxy, https_proxy=cfg.https_proxy,
            no_proxy=cfg.no_proxy, ca_bundle=cfg.ca_bundle, verify=cfg.verify_tls,
            connect_timeout=cfg.connect_timeout, read_timeout=cfg.read_timeout,
            max_redirects=cfg.max_redirects))
        await self.hub.start()
        self.token_store = self._token_store(app, cfg)
        self.tokens = HfTokens(self.token_store, lambda: self.access.user_store,
                               tuple(cfg.shared_groups))
        app.provide("hf.tokens", self.tokens)
        if not app.has_kube:
            raise ApiError(503, "the hf plugin keeps import jobs as ImportJob objects in the "
                           "cluster: it needs a Kubernetes API server (kubernetes.host, "
                           "in-cluster config, or sandbox.mode auto/on)")
        namespace = cfg.jobs_namespace or app.settings.kubernetes.dashboard_namespace
        self.jobs = JobManager(
            app, self.hub, Cluster(app.kube, namespace, self.status_writes), cfg,
            TransferSettings(chunk_size=cfg.chunk_size, retries=cfg.retries,
                             backoff=cfg.backoff, backoff_max=cfg.backoff_max,
                             parts_in_flight=cfg.parts_in_flight, part_size=cfg.part_size),
            self.stats, slot=self._slot)
        if not self.cli:  # a command (hf import) runs only its own job
            self.jobs.open()
        self.log.info("Hugging Face hub: %s; import jobs: ImportJobs in %s (replica %s)",
                      endpoint, namespace, self.jobs.identity)

    def _slot(self) -> Any:
        """One of the s3 plugin's server-wide transfer slots (shared with uploads)."""
        return self.access.transfers.slot()

    def _token_store(self, app: Any, cfg: HfConfig) -> TokenStore:
        default = cfg.token.get_secret_value() if cfg.token else None
        use_kube = cfg.settings_store == "kube" or (cfg.settings_store == "auto"
                                                    and app.has_kube and app.sandbox is None)
        if use_kube:
            return TokenStore(default=default, kube=app.kube,
                              namespace=app.settings.kubernetes.dashboard_namespace,
                              secret=cfg.settings_secret, ttl=cfg.settings_ttl)
        state = Path(cfg.state_dir or app.settings.sandbox.state_dir)
        return TokenStore(default=default, path=state / "hf-settings.json",
                          ttl=cfg.settings_ttl)

    @hookimpl(tryfirst=True)
    async def shutdown(self, app: Any) -> None:
        jobs = getattr(self, "jobs", None)
        if jobs is not None:
            # Hands running jobs back: status saved, Lease released, uploads kept open for
            # the replica that takes over.
            await jobs.close(timeout=max(1.0, app.settings.server.shutdown_timeout - 1))
        hub = getattr(self, "hub", None)
        if hub is not None:
            await hub.close()

    @hookimpl
    def register_commands(self, subparsers: Any) -> None:
        from .cli import add_commands

        add_commands(self, subparsers)
