"""`GET /api/config` and admin `PATCH /api/config`: the OdhDashboardConfig, merged."""
from __future__ import annotations

from odh_core import ApiError, requires

from .base import DashboardHandler
from .dashconfig import FLAGS_HEADER, DashboardConfigStore, parse_flags_header


def no_cache(handler: DashboardHandler) -> bool:
    value = handler.request.headers.get("Cache-Control", "") + "," + \
        handler.request.headers.get("Pragma", "")
    return "no-cache" in value.lower()


class ConfigHandler(DashboardHandler):
    def store(self) -> DashboardConfigStore:
        store = self.plugin.config_store
        if store is None:
            raise ApiError(503, "no Kubernetes API server is configured")
        return store

    async def get(self) -> None:
        """The config from the watch cache (no API call); `Cache-Control: no-cache` re-reads it
        (service account, a read); `x-odh-feature-flags: {json}` overrides flags for this
        request only."""
        overrides = parse_flags_header(self.request.headers.get(FLAGS_HEADER))
        store = self.store()
        obj = await store.raw(reread=no_cache(self))
        self.set_header("Cache-Control", "no-store")
        self.write_json(store.merged(obj, overrides))

    @requires("admin")
    async def patch(self) -> None:
        """A JSON merge patch of the object, applied with the SERVICE ACCOUNT after this
        route's admin check (`@requires("admin")`); the cache takes the result at once."""
        body = self.json_object()
        overrides = parse_flags_header(self.request.headers.get(FLAGS_HEADER))
        meta = body.get("metadata")
        if meta is not None and not isinstance(meta, dict):
            raise ApiError(400, "metadata must be an object")
        for key in ("name", "namespace"):
            if meta and key in meta:
                raise ApiError(400, f"metadata.{key} cannot be changed")
        store = self.store()
        obj = await store.patch(body)
        self.write_json(store.merged(obj, overrides))
