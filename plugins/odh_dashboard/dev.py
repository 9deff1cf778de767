"""`POST /api/dev-impersonate` (dev mode only; the route does not exist otherwise).

`{"impersonate": true}` sets the core's signed dev-identity cookie to the configured dev user
(plugin config `dev_impersonate_user`), `false` clears it. The switch lives in that browser's
cookie, so it is per session: other sessions and requests carrying a token are untouched (the
old backend flipped a process-wide flag that switched every user at once).
"""
from __future__ import annotations

from odh_core import ApiError

from .base import DashboardHandler
from .status import DEV_COOKIE


class DevImpersonateHandler(DashboardHandler):
    async def post(self) -> None:
        """Switch this session to the dev impersonation user, or back."""
        if not self.plugin.dev_mode:  # the route is only registered in dev mode; belt and braces
            raise ApiError(404, "not found")
        body = self.json_object() if self.request.body else {}
        impersonate = body.get("impersonate", True)
        if not isinstance(impersonate, bool):
            raise ApiError(400, "impersonate must be true or false")
        user = self.plugin.config.dev_impersonate_user
        if impersonate:
            if user not in self.odh.dev_users:
                raise ApiError(409, f"dev user {user!r} is not configured (auth.dev_users)")
            self.set_signed_cookie(DEV_COOKIE, user, expires_days=1, httponly=True,
                                   samesite="Strict", path="/")
        else:
            self.clear_cookie(DEV_COOKIE, path="/")
        self.write_json({"impersonate": impersonate, "user": user if impersonate else
                         self.odh.settings.auth.dev_user})
