"""Effective shared settings = configured/env/sandbox base, overlaid by run-time changes.

In a cluster the persisted Secret and ConfigMap are *watched* (see watch.py): another
replica's change applies here as soon as the API server tells us, and an idle server makes
no requests. Where no watch runs (a settings file, or a service account that may not watch)
the document is re-read lazily by requests once it is older than `settings_ttl`. A change of
the shared S3 connection gives the shared source a new client; a change of the transfer
maximum applies to every user's slots at once.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from .access import S3Access
from .connection import S3Connection
from .store import SettingsStore

log = logging.getLogger("odh.plugin.s3")
MASK = "********"
DISCLAIMER_STATES = ("accepted", "rejected", "unknown")


class SettingsManager:
    def __init__(self, base: S3Connection, base_limit: int, base_disclaimer: str,
                 store: SettingsStore, access: S3Access, ttl: float):
        self.base = base
        self.base_limit = base_limit
        self.base_disclaimer = base_disclaimer
        self.store = store
        self.access = access
        self.ttl = ttl
        self.overlay: dict[str, Any] = {}
        self._loaded_at = float("-inf")
        self._refreshing: asyncio.Task[None] | None = None
        self.watches: list[Any] = []  # SecretWatch objects keeping this fresh

    # -- effective values ---------------------------------------------------------------------
    def connection(self, overlay: dict[str, Any] | None = None) -> S3Connection:
        o = self.overlay if overlay is None else overlay
        b = self.base

        def pick(key: str, default: Any) -> Any:
            value = o.get(key)
            return default if value is None else value

        return b.with_(endpoint=pick("endpoint", b.endpoint) or None,
                       access_key_id=pick("accessKeyId", b.access_key_id),
                       secret_access_key=pick("secretAccessKey", b.secret_access_key),
                       region=pick("region", b.region) or "us-east-1",
                       default_bucket=pick("defaultBucket", b.default_bucket),
                       http_proxy=pick("httpProxy", b.http_proxy),
                       https_proxy=pick("httpsProxy", b.https_proxy))

    @property
    def max_transfers(self) -> int:
        try:
            return max(1, int(self.overlay.get("maxConcurrentTransfers") or self.base_limit))
        except (TypeError, ValueError):
            return self.base_limit

    @property
    def disclaimer(self) -> str:
        value = self.overlay.get("disclaimer") or self.base_disclaimer
        return value if value in DISCLAIMER_STATES else "unknown"

    def s3_view(self) -> dict[str, Any]:
        """The S3 settings as the UI reads them; the secret masked (never sent back)."""
        c = self.access.connection
        return {"accessKeyId": c.access_key_id,
                "secretAccessKey": MASK if c.secret_access_key else "",
                "region": c.region, "endpoint": c.endpoint or "",
                "defaultBucket": c.default_bucket}

    def proxy_view(self) -> dict[str, Any]:
        c = self.access.connection
        return {"httpProxy": mask_url(c.http_proxy), "httpsProxy": mask_url(c.https_proxy)}

    # -- loading ------------------------------------------------------------------------------
    async def refresh(self, force: bool = False) -> None:
        """Re-read the store if the TTL ran out (one read shared by concurrent callers); a
        running watch keeps it fresh instead."""
        if not force and (time.monotonic() - self._loaded_at < self.ttl or (
                self.watches and all(w.active for w in self.watches))):
            return
        if self._refreshing is None or self._refreshing.done():
            self._refreshing = asyncio.ensure_future(self._reload())
        await asyncio.shield(self._refreshing)

    async def _reload(self) -> None:
        try:
            overlay = await self.store.load()
        except Exception as exc:
            # Keep serving with what we have; say why without details that could hold secrets.
            log.warning("could not read persisted S3 settings: %s", type(exc).__name__)
            self._loaded_at = time.monotonic()
            return
        await self._apply(overlay)

    async def _apply(self, overlay: dict[str, Any]) -> None:
        self.overlay = overlay
        self._loaded_at = time.monotonic()
        await self.access.apply(self.connection())
        self.access.slots.admin_max = self.max_transfers

    async def update(self, changes: dict[str, Any]) -> None:
        overlay = await self.store.update(changes)
        await self._apply(overlay)

    async def on_change(self, event: dict[str, Any] | None) -> None:
        """A watch event on the settings Secret or ConfigMap (None: reconnected)."""
        await self.refresh(force=True)


def mask_url(url: str) -> str:
    """A proxy URL with any password replaced by the mask."""
    from urllib.parse import urlsplit, urlunsplit

    if not url:
        return ""
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    if parts.password:
        netloc = f"{parts.username}:{MASK}@{parts.hostname}" + (
            f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    return url
