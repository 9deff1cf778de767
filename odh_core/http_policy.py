"""Response security headers and CORS: configuration of the core, applied to every handler.

Headers are set in `set_default_headers`, which Tornado runs for every response and again
after an error clears the handler, so success, error and streamed responses all carry them.
"""
from __future__ import annotations

from typing import Any

from .config import ServerConfig


class HttpPolicy:
    def __init__(self, server: ServerConfig):
        sec, cors = server.security_headers, server.cors
        self.static: list[tuple[str, str]] = [("X-Content-Type-Options", "nosniff")]
        if sec.enabled:
            self.static += [("X-Frame-Options", sec.frame_options),
                            ("Referrer-Policy", sec.referrer_policy)]
            if sec.content_security_policy:
                self.static.append(("Content-Security-Policy", sec.content_security_policy))
        for name, value in self.static:
            if "\r" in value or "\n" in value:
                raise ValueError(f"server.security_headers: {name} may not contain a line break")
        self.hsts = (f"max-age={sec.hsts_seconds}; includeSubDomains"
                     if sec.enabled and sec.hsts_seconds > 0 else None)
        self.cors = cors
        self.origins = frozenset(cors.allowed_origins)
        # A wildcard may never be combined with credentials: the browser would refuse it, and
        # echoing any origin with credentials would hand every site the user's session.
        self.wildcard = "*" in self.origins and not cors.allow_credentials
        self.methods = ", ".join(m.upper() for m in cors.allowed_methods)
        self.allowed_methods = {m.upper() for m in cors.allowed_methods}
        self.headers = ", ".join(cors.allowed_headers)
        self.allowed_headers = {h.lower() for h in cors.allowed_headers}
        self.exposed = ", ".join(cors.exposed_headers)

    def origin_allowed(self, origin: str | None) -> bool:
        return bool(origin) and (origin in self.origins or self.wildcard)

    def apply(self, handler: Any) -> None:
        # The static headers were validated once here; writing them into Tornado's header map
        # directly skips set_header's per-call checks (every response pays this).
        headers = handler._headers
        for name, value in self.static:
            headers[name] = value
        if self.hsts and handler.request.protocol == "https":
            handler.set_header("Strict-Transport-Security", self.hsts)
        if self.origins:
            origin = handler.request.headers.get("Origin")
            handler.add_header("Vary", "Origin")
            if self.origin_allowed(origin):
                handler.set_header("Access-Control-Allow-Origin",
                                   "*" if self.wildcard and origin not in self.origins
                                   else origin)
                if self.cors.allow_credentials:
                    handler.set_header("Access-Control-Allow-Credentials", "true")
                if self.exposed:
                    handler.set_header("Access-Control-Expose-Headers", self.exposed)

    @staticmethod
    def is_preflight(handler: Any) -> bool:
        h = handler.request.headers
        return handler.request.method == "OPTIONS" and bool(h.get("Origin")) and bool(
            h.get("Access-Control-Request-Method"))

    def preflight(self, handler: Any) -> tuple[int, str | None]:
        """Answer a CORS preflight without identity: (status, error message or None)."""
        h = handler.request.headers
        if not self.origin_allowed(h.get("Origin")):
            return 403, "CORS: origin not allowed"
        method = h.get("Access-Control-Request-Method", "").upper()
        if method not in self.allowed_methods:
            return 403, f"CORS: method {method} not allowed"
        asked = {x.strip().lower() for x in h.get("Access-Control-Request-Headers", "").split(",")
                 if x.strip()}
        if asked - self.allowed_headers:
            return 403, f"CORS: headers not allowed: {', '.join(sorted(asked - self.allowed_headers))}"
        handler.set_header("Access-Control-Allow-Methods", self.methods)
        handler.set_header("Access-Control-Allow-Headers", self.headers)
        handler.set_header("Access-Control-Max-Age", str(self.cors.max_age))
        return 204, None
