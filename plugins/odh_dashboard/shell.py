"""The dashboard frontend's shell (COMPAT.md §3 "Boot"): `GET /` and the build's assets.

- `/` (and any unknown non-API path: SPA fallback) renders the build's `index.html` with the
  `<script id="mf-remotes-json">` block filled with `[{name, remoteEntry}]` from the
  federation plugin's published module list (`app.service("federation.modules")`, a
  callable; absent -> `[]`). Read at each render, so a reloaded module list shows at once.
- assets: hashed names `Cache-Control: public, max-age=31536000, immutable`, fonts and images
  one day, everything else (index.html included) `no-cache`; ETag + 304.
- without a configured build (`plugins.dashboard.static_dir`), `/` answers a small page that
  says so and links to `/api/openapi.json`; other paths are JSON 404s like the core's.

Anonymous on purpose: the shell and the build's files carry no data (the SPA fetches its data
from the authenticated `/api/...` routes); a browser loads them before it has a token.
Files are read in chunks off the event loop (`asyncio.to_thread`), never whole into memory.
"""
from __future__ import annotations

import asyncio
import json
import mimetypes
import os
import re
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any, Callable

from odh_core import ApiError, BaseHandler, Route, allow_anonymous

CHUNK = 64 * 1024
MAX_INDEX = 4 * 2**20  # an index.html larger than this is not a frontend build's shell
# Paths the SPA fallback never answers: the APIs and the core's endpoints keep JSON 404s.
RESERVED = re.compile(r"^/(?:api|wss|_mf)(?:/|$)|^/(?:metrics|healthz|readyz)(?:/|$)")
# A content hash in the file name: `app.3f2a9c1b.js`, `main-3f2a9c1bd2.css`, `x.[20 hex].js`.
HASHED = re.compile(r"[.\-_][0-9a-f]{8,}[.\-_]", re.IGNORECASE)
DAY_EXTENSIONS = {".woff", ".woff2", ".ttf", ".otf", ".eot", ".png", ".jpg", ".jpeg", ".gif",
                  ".svg", ".ico", ".webp", ".avif", ".bmp"}
IMMUTABLE = "public, max-age=31536000, immutable"
ONE_DAY = "public, max-age=86400"
REMOTES_BLOCK = re.compile(
    r"(<script\b[^>]*\bid\s*=\s*[\"']mf-remotes-json[\"'][^>]*>)(.*?)(</script\s*>)",
    re.IGNORECASE | re.DOTALL)

NO_BUILD_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>odh-core</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 3em auto">
<h1>odh-core is running</h1>
<p>No dashboard frontend build is configured, so there is no UI to show here.
Set <code>plugins.dashboard.static_dir</code> to the directory of a built dashboard frontend
(the one holding <code>index.html</code>) to serve it.</p>
<p>The API is described in <a href="/api/openapi.json">/api/openapi.json</a>.</p>
</body></html>
"""


def cache_control(rel_path: str) -> str:
    name = os.path.basename(rel_path)
    if name == "index.html":
        return "no-cache"
    if HASHED.search(name):
        return IMMUTABLE
    if os.path.splitext(name)[1].lower() in DAY_EXTENSIONS:
        return ONE_DAY
    return "no-cache"


def remotes_json(modules: Any) -> str:
    """`[{name, remoteEntry}]` as JSON safe inside a <script> element."""
    out = []
    for m in modules or []:
        if isinstance(m, dict) and m.get("name"):
            out.append({"name": str(m["name"]), "remoteEntry": str(m.get("remoteEntry") or "")})
    # `</script>` or `<!--` inside the JSON would end or confuse the element: escape `<`.
    return json.dumps(out, separators=(",", ":")).replace("<", "\\u003c")


def render_index(template: str, modules: Any) -> str:
    block = remotes_json(modules)
    if REMOTES_BLOCK.search(template):
        return REMOTES_BLOCK.sub(lambda m: m.group(1) + block + m.group(3), template, count=1)
    tag = f'<script id="mf-remotes-json" type="application/json">{block}</script>'
    idx = template.lower().find("</head>")
    return template[:idx] + tag + template[idx:] if idx >= 0 else tag + template


@dataclass
class _Index:
    key: tuple[float, int]
    text: str


def _stat_file(path: str) -> os.stat_result | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st if os.path.isfile(path) else None


def _read_index(path: str) -> tuple[tuple[float, int], str]:
    with open(path, "rb") as fh:
        data = fh.read(MAX_INDEX + 1)
        st = os.fstat(fh.fileno())
    if len(data) > MAX_INDEX:
        raise ValueError(f"{path} is larger than {MAX_INDEX} bytes")
    return (st.st_mtime, st.st_size), data.decode("utf-8", errors="replace")


@allow_anonymous
class ShellHandler(BaseHandler):
    """`/` and every unknown non-API path (SPA fallback). Only GET and HEAD; anything else,
    and every reserved (API) path, is the core's JSON 404."""

    odh_anonymous_reason = ("the dashboard frontend's shell and static files carry no data; "
                            "a browser loads them before it holds a token")

    def prepare(self) -> Any:  # type: ignore[override]
        # Unknown API paths and non-GET methods: the core's JSON 404, before any identity work
        # (what the core's not-found handler does for paths no route matches).
        if RESERVED.match(self.request.path) or self.request.method not in ("GET", "HEAD"):
            raise ApiError(404, f"no route for {self.request.method} {self.request.path}")
        return super().prepare()

    @property
    def static_dir(self) -> str | None:
        return self.plugin.config.static_dir  # type: ignore[union-attr]

    async def get(self, path: str = "") -> None:
        root = self.static_dir
        if not root:
            if self.request.path != "/":
                raise ApiError(404, f"no route for GET {self.request.path} (no dashboard "
                               "frontend build is configured)")
            self.set_header("Content-Type", "text/html; charset=utf-8")
            self.set_header("Cache-Control", "no-cache")
            self.finish(NO_BUILD_PAGE)
            return
        rel = path.lstrip("/")
        if rel and rel != "index.html":
            found = await asyncio.to_thread(locate, root, rel)
            if found is not None:
                await self.send_file(found[0], found[1], cache_control(rel))
                return
        await self.send_index(root)

    head = get

    async def send_index(self, root: str) -> None:
        """index.html with the remotes block, re-read only when the file changed."""
        path = os.path.join(root, "index.html")
        st = await asyncio.to_thread(_stat_file, path)
        if st is None:
            raise ApiError(503, "the configured dashboard build has no index.html")
        cached: _Index | None = getattr(self.plugin, "_shell_index", None)
        if cached is None or cached.key != (st.st_mtime, st.st_size):
            try:
                key, text = await asyncio.to_thread(_read_index, path)
            except (OSError, ValueError) as exc:
                raise ApiError(503, f"cannot read the dashboard's index.html: {exc}") from None
            cached = _Index(key, text)
            self.plugin._shell_index = cached  # type: ignore[union-attr]
        modules_fn: Callable[[], Any] | None = self.odh.service("federation.modules")
        modules = modules_fn() if callable(modules_fn) else []
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", "no-cache")
        body = render_index(cached.text, modules).encode()
        self.set_header("Content-Length", str(len(body)))
        if self.request.method == "HEAD":
            self.finish()
        else:
            self.finish(body)

    async def send_file(self, path: str, st: os.stat_result, policy: str) -> None:
        etag = f'"{int(st.st_mtime_ns):x}-{st.st_size:x}"'
        self.set_header("Cache-Control", policy)
        self.set_header("ETag", etag)
        self.set_header("Last-Modified", formatdate(st.st_mtime, usegmt=True))
        ctype, encoding = mimetypes.guess_type(path)
        if encoding == "gzip":
            ctype = "application/gzip"
        if ctype and (ctype.startswith("text/") or ctype in ("application/javascript",
                                                            "application/json")):
            ctype += "; charset=utf-8"
        self.set_header("Content-Type", ctype or "application/octet-stream")
        inm = self.request.headers.get("If-None-Match", "")
        if etag in [t.strip() for t in inm.split(",")] or inm.strip() == "*":
            self.set_status(304)
            self.finish()
            return
        self.set_header("Content-Length", str(st.st_size))
        if self.request.method == "HEAD":
            self.finish()
            return
        fh = await asyncio.to_thread(open, path, "rb")
        try:
            while True:
                chunk = await asyncio.to_thread(fh.read, CHUNK)
                if not chunk:
                    break
                self.write(chunk)
                await self.flush()  # backpressure: wait until the socket took it
        finally:
            await asyncio.to_thread(fh.close)
        self.finish()


def locate(root: str, rel: str) -> tuple[str, os.stat_result] | None:
    """Blocking (call off the loop): the regular file `rel` names inside `root` and its stat."""
    target = resolve(root, rel)
    st = _stat_file(target) if target is not None else None
    return (target, st) if target is not None and st is not None else None


def resolve(root: str, rel: str) -> str | None:
    """The file `rel` names inside `root`, or None when it would leave `root` (`..`, absolute
    parts, symlinks pointing out) or names a hidden file."""
    parts = rel.split("/")
    if any(p in ("", ".", "..") or p.startswith(".") or "\\" in p or "\x00" in p for p in parts):
        return None
    real_root = os.path.realpath(root)
    target = os.path.realpath(os.path.join(real_root, *parts))
    if os.path.commonpath([real_root, target]) != real_root:
        return None
    return target


def shell_routes() -> list[Route]:
    return [
        Route(r"/", ShellHandler, description="The dashboard frontend (index.html)."),
        # After every specific route of every plugin (federation's families use 800).
        Route(r"/(.*)", ShellHandler, order=1000,
              description="The frontend's files; other non-API paths get index.html."),
    ]


__all__ = ["ShellHandler", "shell_routes", "render_index", "cache_control"]
