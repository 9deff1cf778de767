"""The base of the s3 plugin's handlers: settings freshness, the S3 client, activity."""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from odh_core import BaseHandler

if TYPE_CHECKING:  # pragma: no cover
    from .access import S3Access
    from .plugin import S3Plugin


class S3Handler(BaseHandler):
    plugin: "S3Plugin"

    async def prepare(self) -> None:
        await super().prepare()
        if self._finished:
            return
        self.plugin.last_activity = time.time()
        if self.plugin.settings is not None:
            await self.plugin.settings.refresh()

    @property
    def access(self) -> "S3Access":
        return self.plugin.require_access()

    async def s3(self) -> Any:
        """The current S3 client (503 when S3 is not configured)."""
        return await self.access.client()

    def query_int(self, name: str, default: int, lo: int, hi: int) -> int:
        raw = self.get_query_argument(name, None)
        if raw in (None, ""):
            return default
        try:
            value = int(raw)
        except ValueError:
            from odh_core import ApiError
            raise ApiError(400, f"{name} must be an integer") from None
        if not lo <= value <= hi:
            from odh_core import ApiError
            raise ApiError(400, f"{name} must be between {lo} and {hi}")
        return value
