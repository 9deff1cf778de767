"""Sandbox only: point the seeded S3 connections (conf/sandbox/85-s3-connections.yaml) at the
embedded S3 once it runs, and create their buckets.

The seed cannot know the embedded S3's port; every connection Secret annotated
`odh-core.opendatahub.io/sandbox-s3: embedded` gets the endpoint written in. This acts as the
sandbox's seed user `admin` (a cluster admin of the sandbox): it is set-up of a throwaway
cluster, never a path a request can reach.
"""
from __future__ import annotations

import asyncio
import base64
import logging
from typing import Any, Callable

log = logging.getLogger("odh.plugin.s3")
ANNOTATION = "odh-core.opendatahub.io/sandbox-s3"


async def fill_connections(kube: Any, token: str, endpoint: str,
                           ensure_bucket: Callable[[str], None]) -> list[str]:
    """Write `endpoint` into the annotated connection Secrets; returns their buckets."""
    listing = await kube.get("/api/v1/secrets", token=token,
                             params={"labelSelector": "opendatahub.io/dashboard=true"})
    buckets = []
    for secret in listing.get("items") or []:
        meta = secret.get("metadata") or {}
        if (meta.get("annotations") or {}).get(ANNOTATION) != "embedded":
            continue
        data = secret.get("data") or {}
        encoded = base64.b64encode(endpoint.encode()).decode()
        if data.get("AWS_S3_ENDPOINT") != encoded:
            await kube.json("PATCH", f"/api/v1/namespaces/{meta['namespace']}/secrets/"
                            f"{meta['name']}", token=token,
                            json={"data": {"AWS_S3_ENDPOINT": encoded}},
                            headers={"Content-Type": "application/merge-patch+json"})
        bucket = base64.b64decode(data.get("AWS_S3_BUCKET", "")).decode()
        if bucket:
            await asyncio.to_thread(ensure_bucket, bucket)
            buckets.append(bucket)
    return buckets


async def seed_sandbox_connections(app: Any, s3: Any) -> None:
    users = app.sandbox.dev_users()
    admin = users.get("admin")
    if admin is None or app.sandbox.kube is None:
        return
    try:
        buckets = await fill_connections(app.kube, admin.token.get_secret_value(), s3.endpoint,
                                         s3.ensure_bucket)
    except Exception as exc:  # a sandbox nicety: never fail the start for it
        log.warning("SANDBOX: could not point the seeded S3 connections at the embedded S3 "
                    "(%s)", type(exc).__name__)
        return
    if buckets:
        log.warning("SANDBOX: seeded S3 connections point at the embedded S3 (buckets %s)",
                    ", ".join(buckets))
