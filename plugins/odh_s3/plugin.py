"""The s3 plugin: routes, startup (S3 client, settings store, sandbox S3) and shutdown."""
from __future__ import annotations

from typing import Any

from odh_core import Plugin, Route, hookimpl

from .access import S3Access
from .config import S3Config
from .connection import S3Connection


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

    @hookimpl
    def register_routes(self) -> list[Route]:
        return []

    @hookimpl
    async def startup(self, app: Any) -> None:
        cfg: S3Config = self.config
        conn = connection_from_config(cfg)
        if not conn.configured and app.sandbox is not None:
            sb = await app.sandbox.ensure_s3()
            conn = conn.with_(endpoint=sb.endpoint, access_key_id=sb.access_key,
                              secret_access_key=sb.secret_key, region=sb.region,
                              default_bucket=conn.default_bucket or sb.default_bucket)
        self.access = S3Access(conn, cfg.max_concurrent_transfers,
                               parts_in_flight=cfg.parts_in_flight, part_size=cfg.part_size)
        await self.access.start()
        app.provide("s3.access", self.access)

    @hookimpl
    async def shutdown(self, app: Any) -> None:
        if self.access is not None:
            await self.access.close()
