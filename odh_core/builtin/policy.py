"""Per-user rate limits and the audit trail, as a plugin of the public hooks."""
from __future__ import annotations

import logging
import re
from typing import Any

from ..hookspecs import hookimpl
from ..plugin import Plugin
from ..redact import redact_uri

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_NAMESPACE = re.compile(r"/namespaces/([^/?]+)")


class PolicyPlugin(Plugin):
    def __init__(self, ctx: Any):
        super().__init__(ctx)
        settings = ctx.app.settings
        self.limits = ctx.app.limits
        self.audit = settings.audit
        self.audit_log = logging.getLogger("odh.audit")
        self.audit_level = logging.getLevelName(self.audit.level.upper())

    @hookimpl
    async def prepare_request(self, handler: Any) -> None:
        identity = handler.maybe_identity
        if identity is None or not self.limits.rate_limited:
            return
        if self.limits.cfg.exempt_admins and await handler.is_admin():
            return
        self.limits.check_rate(identity.username)

    @hookimpl
    def request_finished(self, handler: Any) -> None:
        if not self.audit.enabled:
            return
        method = handler.request.method
        admin_read = getattr(handler, "odh_admin_route", False)
        if method not in MUTATING and not admin_read and not (
                self.audit.include_reads and method in ("GET", "HEAD")):
            return
        identity = getattr(handler, "_odh_identity", None)
        if identity is None and handler.get_status() == 401:
            user, groups = None, []
        elif identity is None:
            return  # anonymous probes are not audited
        else:
            user, groups = identity.username, list(identity.groups)
        path = handler.request.path
        target = getattr(handler, "audit_target", None) or {}
        ns = target.get("namespace") or (m.group(1) if (m := _NAMESPACE.search(path)) else None)
        self.audit_log.log(self.audit_level, "%s %s by %s -> %d", method, path, user,
                           handler.get_status(), extra={
                               "audit": True, "user": user, "groups": groups, "verb": method,
                               "route": getattr(handler, "route_pattern", ""),
                               "path": redact_uri(handler.request.uri or ""),
                               "namespace": ns, "target": target.get("name"),
                               "code": handler.get_status(), "adminRoute": admin_read,
                               "plugin": getattr(handler, "plugin_name", "core"),
                               "request_id": getattr(handler, "request_id", "")})
