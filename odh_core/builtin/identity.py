"""The core's identity providers and its "admin" judgement, as a plugin of the public hooks.

Registered `trylast`, so any plugin's `identify_request` is asked before these.
"""
from __future__ import annotations

from typing import Any

from ..auth import Identity, TTLCache, identity_bytes, token_hash
from ..config import DevUser, is_loopback
from ..errors import ApiError
from ..hookspecs import hookimpl
from ..kube import KubeError
from ..plugin import Plugin

DEV_COOKIE = "odh-dev-user"


class CoreAuthPlugin(Plugin):
    def __init__(self, ctx: Any):
        super().__init__(ctx)
        auth = ctx.app.settings.auth
        self.auth = auth
        # Keyed by the token's sha256 (fixed size whatever the token); the identity cache
        # holds the tokens themselves (to act with), so it is bounded by bytes as well.
        self.identities: TTLCache[Identity] = TTLCache(
            auth.cache_ttl, auth.cache_size, maxbytes=auth.cache_bytes, sizeof=identity_bytes)
        self.rejected: TTLCache[str] = TTLCache(auth.negative_cache_ttl, auth.cache_size)
        self.admins: TTLCache[bool] = TTLCache(auth.cache_ttl, auth.cache_size)
        self.reviews = ctx.metrics.counter(
            "odh_auth_reviews_total", "Reviews sent to the API server (cache misses).",
            ["kind", "result"])

    # -- identity -----------------------------------------------------------------------------
    @hookimpl(trylast=True)
    async def identify_request(self, handler: Any) -> Identity | None:
        token = handler.request_token()
        if self.auth.mode == "trusted-header":
            user = handler.request.headers.get(self.auth.user_header)
            if user:
                groups = handler.request.headers.get(self.auth.groups_header, "")
                return Identity(username=user, token=token, provider="trusted-header",
                                groups=tuple(g.strip() for g in groups.split(",") if g.strip()))
        cluster = handler.cluster
        if token is None and self.auth.mode == "dev":
            if not (self.auth.insecure_dev_auth_on_network or (
                    peer_is_loopback(handler) and host_is_loopback(handler))):
                # Second line behind the bind check: dev auth is for this machine, asked for
                # by a loopback name (a page on another site rebinding its DNS name to
                # 127.0.0.1 would otherwise be same-origin with the server and an admin).
                return None
            dev = self.dev_user(handler)
            if dev is None:
                return None
            if dev.token is None:
                return Identity(username=dev.username, groups=tuple(dev.groups), provider="dev")
            identity = await self.validate(dev.token.get_secret_value(), cluster)
            return Identity(identity.username, identity.groups, identity.uid, identity.token,
                            provider="dev", cluster=cluster)
        if token is None:
            return None
        return await self.validate(token, cluster)

    def dev_user(self, handler: Any) -> DevUser | None:
        users = self.ctx.app.dev_users
        chosen = handler.get_signed_cookie(DEV_COOKIE, max_age_days=1)
        if chosen is not None and chosen.decode() in users:
            return users[chosen.decode()]
        return users.get(self.auth.dev_user)

    async def validate(self, token: str, cluster: str = "default") -> Identity:
        kube = self.ctx.app.kube_for(cluster)  # 404 for an unknown cluster, before any call
        if len(token) > self.auth.max_token_bytes:  # before any review, hash or cache entry
            raise ApiError(401, f"the token is longer than {self.auth.max_token_bytes} bytes")
        key = token_hash(token)
        if cluster != "default":
            key = f"{cluster}:{key}"
        if self.rejected.get(key):
            raise ApiError(401, "the cluster rejected this token")
        try:
            return await self.identities.get_or_load(key, lambda: self._review(kube, token,
                                                                                 cluster))
        except KubeError as exc:
            if exc.status in (401, 403):
                self.rejected.put(key, "1")
                raise ApiError(401, "the cluster rejected this token") from None
            raise ApiError(502, f"identity review failed: {exc.message}") from None

    async def _review(self, kube: Any, token: str, cluster: str) -> Identity:
        try:
            info = await kube.self_subject_review(token)
        except KubeError as exc:
            self.reviews.labels("identity", str(exc.status)).inc()
            raise
        self.reviews.labels("identity", "ok").inc()
        if not info.get("username"):
            raise KubeError(401, "the cluster does not know this token")
        return Identity(username=info["username"], groups=tuple(info.get("groups") or ()),
                        uid=info.get("uid", ""), token=token, cluster=cluster)

    # -- authorization ------------------------------------------------------------------------
    @hookimpl(trylast=True)
    async def authorize(self, identity: Identity, action: str) -> bool | None:
        if action != "admin":
            return None
        return await self.is_admin(identity)

    async def is_admin(self, identity: Identity) -> bool:
        if set(identity.groups) & set(self.auth.admin_groups):
            return True
        review = self.auth.admin_review
        if review is None or not identity.token or (
                identity.cluster == "default" and not self.ctx.app.has_kube):
            return False
        token = identity.token

        async def ask() -> bool:
            allowed = await self.ctx.app.kube_for(identity.cluster).access_review(
                token, verb=review.verb, group=review.group, resource=review.resource,
                name=review.name, namespace=review.namespace)
            self.reviews.labels("admin", str(allowed).lower()).inc()
            return allowed

        return await self.admins.get_or_load(identity.token_key, ask)


def peer_is_loopback(handler: Any) -> bool:
    """Whether the TCP peer itself is on this machine. Not `remote_ip`: with xheaders that
    comes from X-Forwarded-For, which any client can write."""
    address = getattr(getattr(handler.request.connection, "context", None), "address", None)
    return isinstance(address, tuple) and is_loopback(str(address[0]))


def host_is_loopback(handler: Any) -> bool:
    """Whether the request names this machine: `localhost`, `*.localhost` or a loopback IP."""
    host = handler.request.host.lower()
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    name = name.strip("[]")
    return name == "localhost" or name.endswith(".localhost") or is_loopback(name)
