"""`GET /api/s3/sources` and `GET|PUT /api/s3/source`: which S3 a caller may use and uses.

Connections are listed with the caller's own token: cluster-wide when they may list Secrets
everywhere, else project by project (the projects are the namespaces the dashboard shows;
a project whose Secrets the caller may not list is skipped, not an error).
"""
from __future__ import annotations

import asyncio
from typing import Any

from odh_core import SERVICE_ACCOUNT, ApiError, KubeError

from .access import SOURCE_KEY, NoS3Source
from .base import S3Handler
from .sources import (CONN_PREFIX, DASHBOARD_LABEL, USER, connection_from_user,
                      display_name, is_namespace_name, is_s3_connection, parse_source,
                      secret_value)

LIST_CONCURRENCY = 8
SELECTOR = {"labelSelector": f"{DASHBOARD_LABEL}=true"}


class _SourceHandler(S3Handler):
    uses_source = False  # these routes are about choosing one

    async def _connections(self, namespace: str | None) -> list[dict[str, Any]]:
        kube, token = self.kube, self.token
        if namespace:
            secrets = await self._list(f"/api/v1/namespaces/{namespace}/secrets")
        else:
            try:
                secrets = (await kube.get("/api/v1/secrets", token=token,
                                          params=SELECTOR)).get("items") or []
            except KubeError as exc:
                if exc.status != 403:
                    raise
                secrets = await self._by_project()
        out = []
        for s in secrets:
            if not is_s3_connection(s):
                continue
            meta = s.get("metadata") or {}
            out.append({"id": f"{CONN_PREFIX}{meta.get('namespace')}/{meta.get('name')}",
                        "kind": "connection", "name": display_name(s),
                        "namespace": meta.get("namespace"),
                        "bucket": secret_value(s, "AWS_S3_BUCKET"),
                        "endpoint": secret_value(s, "AWS_S3_ENDPOINT")})
        return sorted(out, key=lambda c: c["id"])

    async def _list(self, path: str) -> list[dict[str, Any]]:
        try:
            return (await self.kube.get(path, token=self.token,
                                        params=SELECTOR)).get("items") or []
        except KubeError as exc:
            if exc.status in (403, 404):
                return []
            raise

    async def _by_project(self) -> list[dict[str, Any]]:
        # Project names are what every dashboard user sees; the Secrets are read as the caller.
        namespaces = await self.kube.get("/api/v1/namespaces", token=SERVICE_ACCOUNT,
                                         params=SELECTOR)
        names = [n["metadata"]["name"] for n in namespaces.get("items") or []]
        sem = asyncio.Semaphore(LIST_CONCURRENCY)

        async def one(ns: str) -> list[dict[str, Any]]:
            async with sem:
                return await self._list(f"/api/v1/namespaces/{ns}/secrets")

        found = await asyncio.gather(*(one(ns) for ns in names))
        return [s for items in found for s in items]


class SourcesHandler(_SourceHandler):
    async def get(self) -> None:
        """`{current, sources: [{id, kind, name, bucket, endpoint, namespace?}]}`; `current`
        is the caller's chosen source (null: the default). `?namespace=` lists one project."""
        access = self.plugin.require_access()
        namespace = self.get_query_argument("namespace", None) or None
        if namespace is not None and not is_namespace_name(namespace):
            raise ApiError(400, "namespace must be a Kubernetes namespace name")
        is_admin = await self.is_admin()
        user = await access.user_store.get(self.identity.username)
        sources: list[dict[str, Any]] = []
        if access.may_use_shared(self.identity, is_admin) and access.configured:
            sources.append({**access.shared.public(), "name": "Shared S3"})
        own = connection_from_user(user, access.connection)
        if own.configured:
            sources.append({"id": USER, "kind": USER, "name": "My S3 settings",
                            "bucket": own.default_bucket, "endpoint": own.endpoint or ""})
        sources.extend(await self._connections(namespace))
        self.ok({"current": user.get(SOURCE_KEY) or None, "sources": sources})


class CurrentSourceHandler(_SourceHandler):
    async def get(self) -> None:
        """The source S3 routes use for the caller now (403 NoS3Source when none)."""
        src = await self.plugin.require_access().resolve(self)
        self.ok(src.public())

    async def put(self) -> None:
        """`{source: "<id>"}` makes it the caller's current source (it must be usable now);
        `{source: null}` goes back to the default (own settings, else shared if allowed)."""
        body = self.json_body()
        if not isinstance(body, dict) or "source" not in body:
            raise ApiError(400, "send {\"source\": \"<id>\"} (ids: GET /api/s3/sources)")
        access = self.plugin.require_access()
        value = body["source"]
        if value is None:
            await access.user_store.update(self.identity.username, {SOURCE_KEY: None})
            try:
                self.ok((await access.resolve(self)).public())
            except NoS3Source:
                self.ok(None)
            return
        ref = parse_source(value)
        src = await access.resolve(self, ref.id)  # 403/404 unless the caller may use it
        await access.user_store.update(self.identity.username, {SOURCE_KEY: ref.id})
        self.ok(src.public())



