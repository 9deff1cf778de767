"""Hugging Face tokens: the shared one admins set, and each user's own.

The shared token (`TokenStore`) is persisted outside process memory (every replica agrees):
a Secret in the dashboard namespace written with the service account (only after the route's
own admin check), or a 0600 file in the state directory when there is no cluster. Re-read
after `ttl` seconds so another replica's change is seen. Until an admin sets one, the
configured token (HF_TOKEN) applies.

A user's own token lives in their settings Secret, the per-user store the s3 plugin publishes
(`app.service("s3.access").user_store`, key `hf.token`). `HfTokens`, published as
`app.service("hf.tokens")`, is what imports ask:

    tokens = app.service("hf.tokens")
    token = await tokens.for_user(identity, is_admin)   # own, else shared if allowed, else None
    token = await tokens.for_handler(handler)           # the same for a request's caller
    tokens.may_use_shared(identity, is_admin) -> bool   # admins and plugins.hf.shared_groups
    await tokens.own(username) / await tokens.set_own(username, token)   # "" clears
"""
from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Callable

from odh_core import SERVICE_ACCOUNT, ApiError, KubeError

log = logging.getLogger("odh.plugin.hf.settings")
KEY = "hfToken"
USER_KEY = "hf.token"
# The one mask for secrets, as the s3 plugin's settings use it; a PUT carrying it (or the
# mask older versions sent) means "unchanged".
MASK = "********"
MASKS = frozenset({MASK, "••••••••"})


def mask(token: str | None) -> str:
    """What GET returns instead of the token; a PUT carrying it means "unchanged"."""
    return MASK if token else ""


class HfTokens:
    """Which token a user's import uses: their own, else the shared one when they may."""

    def __init__(self, shared: "TokenStore", users: Callable[[], Any],
                 shared_groups: tuple[str, ...] = ()):
        self.shared = shared
        self._users = users  # -> the s3 plugin's per-user store (looked up at use)
        self.shared_groups = shared_groups

    def may_use_shared(self, identity: Any, is_admin: bool) -> bool:
        return is_admin or bool(set(identity.groups) & set(self.shared_groups))

    async def own(self, username: str) -> str | None:
        return (await self._users().get(username)).get(USER_KEY) or None

    async def set_own(self, username: str, token: str) -> None:
        await self._users().update(username, {USER_KEY: token or None})

    async def for_user(self, identity: Any, is_admin: bool) -> str | None:
        own = await self.own(identity.username)
        if own:
            return own
        return await self.shared.get() if self.may_use_shared(identity, is_admin) else None

    async def for_handler(self, handler: Any) -> str | None:
        return await self.for_user(handler.identity, await handler.is_admin())


class TokenStore:
    def __init__(self, *, default: str | None, kube: Any = None, namespace: str = "",
                 secret: str = "odh-core-hf-token", path: Path | None = None,
                 ttl: float = 5.0):
        self.default = default or None
        self.kube = kube
        self.namespace = namespace
        self.secret = secret
        self.path = path
        self.ttl = ttl
        self._value: str | None = None
        self._set = False  # a persisted value exists (even an empty one: "no token")
        self._read_at = float("-inf")
        self._lock = asyncio.Lock()

    async def get(self) -> str | None:
        if time.monotonic() - self._read_at >= self.ttl:
            async with self._lock:
                if time.monotonic() - self._read_at >= self.ttl:
                    await self._load()
        return self._value if self._set else self.default

    async def put(self, token: str) -> None:
        """Persist `token` ("" clears it: no token, not even the configured default)."""
        async with self._lock:
            if self.kube is not None:
                await self._put_kube(token)
            elif self.path is not None:
                await asyncio.to_thread(self._write_file, token)
            self._value, self._set, self._read_at = token or None, True, time.monotonic()

    # -- backends -----------------------------------------------------------------------------
    async def _load(self) -> None:
        try:
            if self.kube is not None:
                found, value = await self._get_kube()
            elif self.path is not None:
                found, value = await asyncio.to_thread(self._read_file)
            else:
                found, value = self._set, self._value
        except ApiError as exc:  # keep serving the last known value
            log.warning("could not read the persisted hub token: %s", exc.message)
            self._read_at = time.monotonic()
            return
        self._set, self._value, self._read_at = found, value or None, time.monotonic()

    def _secret_path(self, name: str = "") -> str:
        base = f"/api/v1/namespaces/{self.namespace}/secrets"
        return f"{base}/{name}" if name else base

    async def _get_kube(self) -> tuple[bool, str | None]:
        try:
            obj = await self.kube.get(self._secret_path(self.secret), token=SERVICE_ACCOUNT)
        except KubeError as exc:
            if exc.status == 404:
                return False, None
            raise
        raw = (obj.get("data") or {}).get(KEY)
        if raw is None:
            return False, None
        return True, base64.b64decode(raw).decode() or None

    async def _put_kube(self, token: str) -> None:
        data = {KEY: base64.b64encode(token.encode()).decode()}
        body = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                "metadata": {"name": self.secret, "namespace": self.namespace,
                             "labels": {"app.kubernetes.io/managed-by": "odh-core"}},
                "data": data}
        try:
            await self.kube.json("PATCH", self._secret_path(self.secret), token=SERVICE_ACCOUNT,
                                 json={"data": data},
                                 headers={"Content-Type": "application/merge-patch+json"})
        except KubeError as exc:
            if exc.status != 404:
                raise
            await self.kube.json("POST", self._secret_path(), token=SERVICE_ACCOUNT, json=body)

    def _read_file(self) -> tuple[bool, str | None]:
        assert self.path is not None
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return False, None
        except (OSError, ValueError) as exc:
            raise ApiError(500, f"unreadable settings file {self.path}: {exc}") from None
        if KEY not in data:
            return False, None
        return True, data[KEY] or None

    def _write_file(self, token: str) -> None:
        assert self.path is not None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({KEY: token}, f)
        os.replace(tmp, self.path)
