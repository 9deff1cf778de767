"""The ODH-TEC frontend build, served by the core's `Frontend` at the root of its origin.

ODH-TEC calls `window.location.origin + '/api'`, so it needs `/` of an origin: with the
dashboard's build configured too, give one of them its own host name (`plugins.s3.host`).
Files, caching, compression and the SPA fallback (deep links like `/objects/my.bucket.with.dots`
answer index.html) are the core's; the Content-Security-Policy below is ODH-TEC's own.
"""
from __future__ import annotations

from typing import Any

from odh_core import Frontend, Route, csp_header

# The Monaco editor ODH-TEC's file preview loads at run time (@monaco-editor/loader's default
# `paths.vs` in the bundle: loader.js, editor.main.js/.css/.nls, the codicon font, workerMain.js).
MONACO_CDN = "https://cdn.jsdelivr.net/npm/monaco-editor@0.43.0/min/vs/"
TEC_CSP = csp_header({
    "default-src": "'self'",
    "script-src": f"'self' {MONACO_CDN}",
    "style-src": f"'self' 'unsafe-inline' {MONACO_CDN}",
    "img-src": "'self' data:",
    "font-src": f"'self' data: {MONACO_CDN}",
    "connect-src": "'self'",
    "worker-src": "blob:",
    "frame-ancestors": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "object-src": "'none'",
})
CSP_DOC = (
    "Content-Security-Policy of the ODH-TEC pages and files (null: the policy the stock build "
    "needs, below). default-src/connect-src 'self': the build and its /api calls (uploads, "
    "downloads, progress streams). script-src, style-src and font-src "
    f"{MONACO_CDN}: the file preview's Monaco editor, which the stock build loads from that CDN "
    "path (scripts, its stylesheet and codicon font); style-src 'unsafe-inline': PatternFly and "
    "Monaco set inline styles. worker-src blob:: Monaco starts its workers from blob: URLs "
    "that import the CDN's workerMain.js. img-src/font-src data:: inline icons and fonts. "
    "frame-ancestors 'none', base-uri, form-action, object-src: no framing, no base or form "
    "hijack, no plugins. Air-gapped clusters cannot reach the CDN: the preview stays empty "
    "there, the rest of the UI works.")


def static_routes(cfg: Any) -> list[Route]:
    """The build's catch-all route, when `static_dir` is set."""
    if not cfg.static_dir:
        return []
    frontend = Frontend("ODH-TEC", cfg.static_dir, host=cfg.host,
                        csp=TEC_CSP if cfg.content_security_policy is None
                        else cfg.content_security_policy)
    return frontend.routes(description="The ODH-TEC UI: the build's files, SPA fallback.")
