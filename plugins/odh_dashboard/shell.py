"""The dashboard frontend's shell (COMPAT.md §3 "Boot"): `GET /` and the build's assets.

Served by the core's `Frontend` (Tornado's StaticFileHandler: ETag, 304, ranges, gzip made once;
hashed names cached forever, fonts/images a day, the rest `no-cache`; SPA fallback for every
non-API path that names no file, dots or not). What is the dashboard's own:

- index.html is rendered with the `<script id="mf-remotes-json">` block filled with
  `[{name, remoteEntry}]` from the federation plugin's published module list
  (`app.service("federation.modules")`, a callable; absent -> `[]`), at each render, so a
  reloaded module list shows at once.
- its Content-Security-Policy (`DASHBOARD_CSP`, `plugins.dashboard.content_security_policy`),
  plus Segment's origins on the page only while a segment key is on (`/api/segment-key` would
  answer one): the stock app then loads analytics from them.
- `plugins.dashboard.host`: the host name it owns; unset, every host.
- without a build (`plugins.dashboard.static_dir` unset) `/` answers a small page that says so
  and links to `/api/openapi.json`; other paths are JSON 404s. That route yields to another
  plugin's frontend (ODH-TEC's) configured for the same host.
"""
from __future__ import annotations

import json
import re
from typing import Any, Callable

from odh_core import Frontend, FrontendHandler, Route, csp_header

REMOTES_BLOCK = re.compile(
    r"(<script\b[^>]*\bid\s*=\s*[\"']mf-remotes-json[\"'][^>]*>)(.*?)(</script\s*>)",
    re.IGNORECASE | re.DOTALL)

# What the stock dashboard build needs, directive by directive (the why is in the config
# reference: plugins.dashboard.content_security_policy).
DASHBOARD_CSP = csp_header({
    "default-src": "'self'",
    "script-src": "'self' 'unsafe-eval'",
    "style-src": "'self' 'unsafe-inline'",
    "img-src": "'self' data:",
    "font-src": "'self' data:",
    "connect-src": "'self'",
    "worker-src": "'self' blob:",
    "frame-ancestors": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "object-src": "'none'",
})
CSP_DOC = (
    "Content-Security-Policy of the dashboard's pages and files (null: the policy the stock "
    "build needs, below). default-src 'self': everything from this origin (the build, /api, "
    "/wss, federated remotes under /_mf). script-src 'unsafe-eval': the bundle's generated "
    "protobuf code runs Function('return this') at load; without it the app dies before "
    "rendering. style-src 'unsafe-inline': PatternFly and the editor set inline styles. "
    "img-src/font-src data:: inline icons and fonts in the CSS. worker-src 'self' blob:: the "
    "YAML editor's worker (editor.worker.js). frame-ancestors 'none', base-uri, form-action, "
    "object-src: no framing, no base or form hijack, no plugins. While a segment key is on "
    "(Secret data.segmentKey, not switched off), the page also allows script-src "
    "https://console.redhat.com/connections/cdn/ and connect-src "
    "https://console.redhat.com/connections/ (where the stock app's Segment analytics load "
    "and send); with no key, nothing leaves the origin.")
# Where the stock bundle sends analytics (AnalyticsBrowser.load cdnURL / apiHost).
SEGMENT_SOURCES = {"script-src": "https://console.redhat.com/connections/cdn/",
                   "connect-src": "https://console.redhat.com/connections/"}

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


class ShellHandler(FrontendHandler):
    """The dashboard build; index.html's CSP gains Segment's origins while a key is on."""

    async def content_security_policy(self) -> str:
        from .boot import current_segment_key  # boot.py: what /api/segment-key answers

        base = self.frontend.csp
        if base and self.plugin.config.content_security_policy is None and \
                getattr(self.plugin, "boot_caches", None) is not None:
            if await current_segment_key(self.plugin):
                return csp_header(dict(_split(base)), SEGMENT_SOURCES)
        return base


def _split(policy: str) -> list[tuple[str, str]]:
    out = []
    for part in policy.split(";"):
        name, _, sources = part.strip().partition(" ")
        if name:
            out.append((name, sources.strip()))
    return out


def shell_routes(plugin: Any) -> list[Route]:
    cfg = plugin.config
    modules: Callable[[], Any] = lambda: (  # noqa: E731 - read at each render
        fn() if callable(fn := plugin.ctx.app.service("federation.modules")) else [])
    frontend = Frontend(
        "dashboard", cfg.static_dir or None, host=cfg.host,
        csp=DASHBOARD_CSP if cfg.content_security_policy is None
        else cfg.content_security_policy,
        render_index=lambda text: render_index(text, modules()), no_build_page=NO_BUILD_PAGE)
    return frontend.routes(ShellHandler, order=1000,  # after every specific route
                           description="The dashboard frontend: index.html with the module "
                           "federation block, the build's files, SPA fallback.")


__all__ = ["ShellHandler", "shell_routes", "render_index", "DASHBOARD_CSP", "CSP_DOC"]
