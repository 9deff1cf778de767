"""Serve a built single-page UI (the ODH-TEC frontend) same-origin, with an SPA fallback."""
from __future__ import annotations

import asyncio
import mimetypes
import os
import re
from pathlib import Path

from odh_core import ApiError, BaseHandler, allow_anonymous

_HASHED = re.compile(r"[.\-][0-9a-f]{8,}\.(js|css|mjs|map|woff2?|ttf|png|svg|jpg|jpeg|gif|ico)$")
_LONG = (".woff", ".woff2", ".ttf", ".otf", ".png", ".jpg", ".jpeg", ".gif", ".svg", ".ico",
         ".webp")
API_PREFIXES = ("api/", "api", "wss/", "_mf/", "healthz", "readyz", "metrics")
CHUNK = 256 * 1024


@allow_anonymous
class StaticHandler(BaseHandler):
    """Files under `root`; unknown non-API paths get index.html (client-side routing)."""

    def initialize(self, root: str) -> None:
        self.root = Path(root).resolve()

    async def get(self, path: str = "") -> None:
        await self._serve(path, head=False)

    async def head(self, path: str = "") -> None:
        await self._serve(path, head=True)

    async def _serve(self, path: str, head: bool) -> None:
        rel = path.lstrip("/")
        if rel.startswith(API_PREFIXES):
            raise ApiError(404, "not found")
        target = (self.root / rel).resolve() if rel else self.root / "index.html"
        if not str(target).startswith(str(self.root) + os.sep) or not target.is_file():
            if "." in rel.rsplit("/", 1)[-1]:
                raise ApiError(404, "not found")  # a missing asset is a 404, not the shell
            target = self.root / "index.html"
            if not target.is_file():
                raise ApiError(404, "the UI is not built (no index.html)")
        name = target.name
        if _HASHED.search(name):
            self.set_header("Cache-Control", "public, max-age=31536000, immutable")
        elif name.endswith(_LONG):
            self.set_header("Cache-Control", "public, max-age=86400")
        else:
            self.set_header("Cache-Control", "no-cache")
        self.set_header("Content-Type", mimetypes.guess_type(name)[0]
                        or "application/octet-stream")
        size = target.stat().st_size
        self.set_header("Content-Length", str(size))
        if head:
            self.finish()
            return
        with target.open("rb") as fh:
            while chunk := await asyncio.to_thread(fh.read, CHUNK):
                self.write(chunk)
                await self.flush()
        self.finish()
