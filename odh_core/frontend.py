"""Serving a built single-page frontend (the dashboard's, ODH-TEC's) at the root of an origin.

- Files go through Tornado's `StaticFileHandler`: ETag, Last-Modified, conditional GET (304),
  byte ranges, symlinks kept inside the build.
- Compression: text-like files (scripts, styles, JSON, SVG, fonts that compress) are gzipped
  once, on their first request, in a worker thread, and kept in memory per frontend (bounded by
  the build's compressed size: ~7 MB for the dashboard, 0.5 MB for ODH-TEC); later requests
  that accept gzip get those bytes, ranges included, with their own ETag. On-the-fly
  compression (`compress_response`) was measured and rejected: gzip-6 of the dashboard's 30 MB
  costs ~8 s of CPU, which on the fly would be paid on the event loop on every cold load.
- Cache-Control (COMPAT.md §3): names carrying a content hash `public, max-age=31536000,
  immutable`; fonts and images one day; everything else, index.html included, `no-cache`
  (revalidated with the ETag, so an unchanged ODH-TEC bundle is a 304, not 2.5 MB).
- SPA fallback: a path naming no file answers index.html, whatever dots it holds (a deep link
  like `/objects/my.bucket.with.dots`), unless it is clearly a missing asset: under a top directory
  the build has (`/images/x.png`, `/locales/en/x.json`), or a top-level name with a content hash
  or a script/style/font/image extension. Those, and the API prefixes, are JSON 404s.
- Each frontend sends its own Content-Security-Policy (what that stock build needs) on its
  files, replacing the API's strict default; an error answered by the handler falls back to the
  API's policy with the other default headers.
- Host names: a frontend may be bound to one host name (`Route.host`), so several can each own
  the root of their origin on one port; the API routes stay on every host.

Anonymous on purpose: a build's files carry no data (the SPA reads its data from the
authenticated `/api/...` routes), and a browser loads them before it holds a token.
"""
from __future__ import annotations

import asyncio
import gzip
import hashlib
import mimetypes
import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

import tornado.web

from .errors import ApiError
from .plugin import Route
from .web import BaseHandler, allow_anonymous

# Paths a frontend never answers: the APIs and the core's endpoints keep JSON 404s there.
RESERVED = re.compile(r"^/(?:api|wss|_mf)(?:/|$)|^/(?:metrics|healthz|readyz)(?:/|$)")
# A content hash in a file name: `app.3f2a9c1b5e.js`, `1043.af9c15699ce7ba69.js`,
# `app.3f2a9c1b.bundle.js`, `078865af129336cde269.woff2` (webpack's [contenthash] / [hash]).
HASHED = re.compile(r"(?:^|[.\-_])[0-9a-f]{8,}[.\-_]", re.IGNORECASE)
DAY_EXTENSIONS = frozenset({".woff", ".woff2", ".ttf", ".otf", ".eot", ".png", ".jpg", ".jpeg",
                            ".gif", ".svg", ".ico", ".webp", ".avif", ".bmp"})
# What a top-level missing name must end with to be a missing asset rather than a route.
ASSET_EXTENSIONS = DAY_EXTENSIONS | {".js", ".mjs", ".css", ".map", ".json", ".wasm", ".txt",
                                     ".html"}
COMPRESSIBLE = frozenset({".js", ".mjs", ".css", ".map", ".json", ".html", ".svg", ".txt",
                          ".ttf", ".otf", ".eot", ".xml", ".ico", ".wasm"})
MIN_COMPRESS = 1024          # smaller files are not worth a Content-Encoding
MAX_COMPRESS = 64 * 2**20    # a file larger than this is served as is
IMMUTABLE = "public, max-age=31536000, immutable"
ONE_DAY = "public, max-age=86400"
MAX_INDEX = 4 * 2**20  # an index.html larger than this is not a frontend build's shell


def cache_control(rel_path: str) -> str:
    """COMPAT.md §3: hashed names forever, fonts/images a day, the rest revalidated."""
    name = rel_path.rsplit("/", 1)[-1]
    if name == "index.html":
        return "no-cache"
    if HASHED.search(name):
        return IMMUTABLE
    if os.path.splitext(name)[1].lower() in DAY_EXTENSIONS:
        return ONE_DAY
    return "no-cache"


def csp_header(directives: dict[str, str], extra: dict[str, str] | None = None) -> str:
    """`{"script-src": "'self'", ...}` (+ sources appended per directive) as a header value."""
    merged = dict(directives)
    for name, sources in (extra or {}).items():
        merged[name] = f"{merged[name]} {sources}".strip() if name in merged else sources
    value = "; ".join(f"{k} {v}".strip() for k, v in merged.items())
    if "\r" in value or "\n" in value:
        raise ValueError("a Content-Security-Policy may not contain a line break")
    return value


@dataclass
class _Gzipped:
    key: tuple[int, int]  # (mtime_ns, size) of the file it was made from
    data: bytes


@dataclass
class Frontend:
    """One built frontend: where its files are, the host it owns, its policy, its caches.

    `root` None: no build configured; the frontend then answers `no_build_page` at `/` (when
    given) and JSON 404s elsewhere. `render_index(text) -> text` rewrites index.html on every
    render (the dashboard fills its remotes block there)."""

    # What a configured host name may be: a DNS name, no port, no scheme, no pattern.
    HOST_PATTERN: ClassVar[str] = r"^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$"

    name: str
    root: str | None
    csp: str
    host: str | None = None
    render_index: Callable[[str], str] | None = None
    no_build_page: str | None = None
    _gzipped: dict[str, _Gzipped] = field(default_factory=dict, repr=False)
    _pending: dict[str, asyncio.Future[_Gzipped | None]] = field(default_factory=dict,
                                                                  repr=False)
    _index: tuple[tuple[int, int], str] | None = field(default=None, repr=False)

    def routes(self, handler: type["FrontendHandler"] | None = None, *, description: str = "",
               order: int = 10_000) -> list[Route]:
        """The catch-all route serving this frontend (after every specific route). Without a
        build it yields to another plugin's configured frontend on the same host."""
        return [Route(r"/(.*)", handler or FrontendHandler, {"frontend": self}, order=order,
                      host=self.host, fallback=self.root is None,
                      description=description or f"The {self.name} frontend's files; other "
                      "non-API paths get its index.html.")]

    # -- blocking helpers: called off the loop, or only for a stat ----------------------------
    def locate(self, rel: str) -> str | None:
        """The regular file `rel` names inside the build (None: none, hidden or outside)."""
        if self.root is None or not rel:
            return None
        parts = rel.split("/")
        if any(p in ("", ".", "..") or p.startswith(".") or "\\" in p or "\x00" in p
               for p in parts):
            return None
        path = os.path.join(self.root, *parts)
        if not os.path.isfile(path):
            return None
        # A symlink leading out of the build is not one of its files (StaticFileHandler would
        # refuse it too, but nothing outside may even be read for compression).
        root, real = os.path.realpath(self.root), os.path.realpath(path)
        return path if os.path.commonpath([root, real]) == root else None

    def is_missing_asset(self, rel: str) -> bool:
        """A path naming no file that is still clearly a file of the build, not a route."""
        parts = rel.split("/")
        if any(p in ("", ".", "..") or p.startswith(".") for p in parts):
            return False  # never a file of the build: the shell answers, nothing is read
        if len(parts) > 1:  # under a top directory the build has: /images/x, /locales/de/x
            return self.root is not None and os.path.isdir(os.path.join(self.root, parts[0]))
        name = parts[0]
        return bool(HASHED.search(name)) or os.path.splitext(name)[1].lower() in ASSET_EXTENSIONS

    def index_text(self) -> str:
        """index.html as text, re-read only when the file changed (small: a stat per render)."""
        assert self.root is not None
        path = os.path.join(self.root, "index.html")
        st = os.stat(path)
        key = (st.st_mtime_ns, st.st_size)
        if self._index is None or self._index[0] != key:
            if st.st_size > MAX_INDEX:
                raise ApiError(503, f"the {self.name} build's index.html is too large")
            with open(path, "rb") as fh:
                self._index = (key, fh.read(MAX_INDEX).decode("utf-8", errors="replace"))
        return self._index[1]

    # -- compression --------------------------------------------------------------------------
    @staticmethod
    def compressible(path: str, size: int) -> bool:
        return (MIN_COMPRESS <= size <= MAX_COMPRESS
                and os.path.splitext(path)[1].lower() in COMPRESSIBLE)

    async def gzipped(self, path: str, st: os.stat_result) -> bytes | None:
        """The gzip bytes of `path` as it is now; made once, in a thread. None: not smaller."""
        key = (st.st_mtime_ns, st.st_size)
        done = self._gzipped.get(path)
        if done is not None and done.key == key:
            return done.data or None
        pending = self._pending.get(path)
        if pending is None:
            pending = asyncio.ensure_future(asyncio.to_thread(_compress, path, key))
            self._pending[path] = pending
            pending.add_done_callback(lambda _f: self._pending.pop(path, None))
        result = await asyncio.shield(pending)
        if result is None:
            return None
        self._gzipped[path] = result
        return result.data if result.key == key and result.data else None


def _compress(path: str, key: tuple[int, int]) -> _Gzipped | None:
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_COMPRESS + 1)
    except OSError:
        return None
    data = gzip.compress(raw, compresslevel=6, mtime=0)
    # Not smaller (already compressed): remember that with empty bytes, serve the file as is.
    return _Gzipped(key, data if len(data) < len(raw) else b"")


@allow_anonymous
class FrontendHandler(BaseHandler, tornado.web.StaticFileHandler):
    """Serves one `Frontend` (route kwargs: `frontend`). GET and HEAD only."""

    odh_anonymous_reason = ("a frontend build's files carry no data; a browser loads them "
                            "before it holds a token")
    frontend: Frontend

    def initialize(self, frontend: Frontend) -> None:  # type: ignore[override]
        self.frontend = frontend
        self._gz: bytes | None = None
        super().initialize(path=frontend.root or "")

    def prepare(self) -> Any:  # type: ignore[override]
        # Unknown API paths: the core's JSON 404, before any identity work (what the core's
        # not-found handler does for paths no route matches), and for other methods.
        if RESERVED.match(self.request.path):
            raise ApiError(404, f"no route for {self.request.method} {self.request.path}")
        if self.request.method not in ("GET", "HEAD"):
            raise ApiError(404, f"no route for {self.request.method} {self.request.path}")
        return super().prepare()

    async def content_security_policy(self) -> str:
        """The policy of an HTML page of this frontend; a subclass may add sources that
        depend on run-time state (the dashboard adds Segment's when a key is on)."""
        return self.frontend.csp

    async def get(self, path: str = "", include_body: bool = True) -> None:
        fe = self.frontend
        rel = path.lstrip("/")
        # Set here, not in set_default_headers: an error clears the headers and answers JSON
        # with the API's strict policy.
        self._set_page_policy(fe.csp)
        if fe.root is None:
            if rel or fe.no_build_page is None:
                raise ApiError(404, f"no route for {self.request.method} {self.request.path} "
                               f"(no {fe.name} frontend build is configured)")
            self.set_header("Content-Type", "text/html; charset=utf-8")
            self.set_header("Cache-Control", "no-cache")
            self.finish(fe.no_build_page if include_body else None)
            return
        target = fe.locate(rel) if rel else None
        if target is None:
            if rel and fe.is_missing_asset(rel):
                raise ApiError(404, f"{self.request.path}: no such file in the {fe.name} build")
            rel = "index.html"
            target = fe.locate(rel)
            if target is None:
                raise ApiError(503, f"the configured {fe.name} build has no index.html")
        if rel == "index.html":
            self._set_page_policy(await self.content_security_policy())
            if fe.render_index is not None:
                self._send_rendered_index(include_body)
                return
        st = os.stat(target)
        if "gzip" in self.request.headers.get("Accept-Encoding", "") and \
                fe.compressible(target, st.st_size):
            self._gz = await fe.gzipped(target, st)
        await super().get(rel, include_body)

    def _set_page_policy(self, csp: str) -> None:
        if self.odh.settings.server.security_headers.enabled and csp:
            self.set_header("Content-Security-Policy", csp)

    def _send_rendered_index(self, include_body: bool) -> None:
        body = self.frontend.render_index(self.frontend.index_text()).encode()  # type: ignore
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", "no-cache")
        self._rendered_etag = f'"{hashlib.sha1(body).hexdigest()}"'
        self.set_header("Etag", self._rendered_etag)
        if self.check_etag_header():
            self.set_status(304)
            self.finish()
            return
        self.set_header("Content-Length", str(len(body)))
        self.finish(body if include_body else None)

    # -- StaticFileHandler's extension points -------------------------------------------------
    def compute_etag(self) -> str | None:
        rendered = getattr(self, "_rendered_etag", None)
        if rendered is not None or getattr(self, "absolute_path", None) is None:
            return rendered  # a rendered index.html, or no file (the no-build page)
        # From the stat, as nginx does: StaticFileHandler's default hashes the whole file on
        # the event loop and keeps the hashes in a process-wide dict.
        st = self._stat()
        return f'"{st.st_mtime_ns:x}-{st.st_size:x}{"-gz" if self._gz else ""}"'

    def get_cache_time(self, path: str, modified: Any, mime_type: str) -> int:
        return 0  # Cache-Control is set in set_extra_headers, per COMPAT.md §3

    def set_extra_headers(self, path: str) -> None:
        self.set_header("Cache-Control", cache_control(path))
        if self.frontend.compressible(self.absolute_path or "", self._stat().st_size):
            self.add_header("Vary", "Accept-Encoding")
        if self._gz:
            self.set_header("Content-Encoding", "gzip")

    def get_content_type(self) -> str:
        ctype, encoding = mimetypes.guess_type(self.absolute_path or "")
        if encoding or not ctype:
            return "application/octet-stream"
        if ctype.startswith("text/") or ctype in ("application/javascript", "application/json",
                                                  "image/svg+xml"):
            return f"{ctype}; charset=utf-8"
        return ctype

    def get_content_size(self) -> int:
        return len(self._gz) if self._gz else super().get_content_size()

    def get_content(self, abspath: str, start: int | None = None,  # type: ignore[override]
                    end: int | None = None) -> Any:
        if self._gz:
            return [self._gz[start or 0:end]]
        return tornado.web.StaticFileHandler.get_content(abspath, start, end)


__all__ = ["Frontend", "FrontendHandler", "cache_control", "csp_header"]
