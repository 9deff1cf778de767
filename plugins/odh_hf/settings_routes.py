"""The Hugging Face settings routes of the ODH-TEC UI: the token and its test.

An admin's token is the shared one (used by admins and `plugins.hf.shared_groups`); anyone
else's is their own, kept in their settings Secret. GET shows the caller's token masked.
The test checks the token in the body, else the caller's own; an admin may test the shared
one: nobody else can make the server use it (it would be a probe of a token they may not use).
"""
from __future__ import annotations

from typing import Any

from odh_core import ApiError, BaseHandler

from .token_store import MASKS, mask


class _HfSettingsHandler(BaseHandler):
    @property
    def tokens(self) -> Any:
        return self.plugin.tokens


class HfSettingsHandler(_HfSettingsHandler):
    async def get(self) -> None:
        """`{settings: {hfToken}}` masked: the shared token for admins, else the caller's."""
        if await self.is_admin():
            token = await self.tokens.shared.get()
        else:
            token = await self.tokens.own(self.identity.username)
        self.write_json({"settings": {"hfToken": mask(token)}})

    async def put(self) -> None:
        """`{hfToken}`: the mask means "unchanged", "" clears. Admins set the shared token,
        anyone else their own."""
        body = self.json_body()
        token = body.get("hfToken") if isinstance(body, dict) else None
        if not isinstance(token, str) or len(token) > 512 or any(c.isspace() for c in token):
            raise ApiError(400, "hfToken must be a string without whitespace")
        if token not in MASKS:
            if await self.is_admin():
                await self.tokens.shared.put(token)
            else:
                await self.tokens.set_own(self.identity.username, token)
        self.write_json({"message": "Settings updated successfully"})


class HfTestHandler(_HfSettingsHandler):
    async def post(self) -> None:
        """Check a token against the hub's whoami: the body's, else the caller's own (an
        admin's: the shared one)."""
        body = self.json_body() if self.request.body else {}
        token = body.get("hfToken") if isinstance(body, dict) else None
        if token in (None, "") or token in MASKS:
            if await self.is_admin():
                token = await self.tokens.shared.get()
            else:
                token = await self.tokens.own(self.identity.username)
        if not isinstance(token, str) or not token:
            raise ApiError(400, "no Hugging Face token to test: give hfToken or save yours")
        who = await self.plugin.hub.whoami(token)
        name = ((who.get("auth") or {}).get("accessToken") or {}).get("displayName")
        self.write_json({"message": "Connection successful", "accessTokenDisplayName": name})
