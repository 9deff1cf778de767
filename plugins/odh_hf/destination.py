"""Where an import writes, and with which credentials: the one seam between imports and S3.

At job creation the destination is resolved for the caller, with the caller's own token, to
the S3 source the request names (`source` query parameter) or the caller's current one
(`(await app.service("s3.access").resolve(handler)).connection`: a dashboard connection,
their own settings, or the shared S3 when they may use it), and those credentials plus the hub token are copied into a Secret the ImportJob owns. The worker,
in any replica or in a Job pod, builds its S3 client from that Secret alone: it never has the
user's token.
"""
from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, AsyncIterator

from odh_core import ApiError

# Keys of the job's Secret (the old backend's environment variable names, so a Job pod could
# also take them as env).
ENDPOINT = "AWS_S3_ENDPOINT"
ACCESS_KEY = "AWS_ACCESS_KEY_ID"
SECRET_KEY = "AWS_SECRET_ACCESS_KEY"
REGION = "AWS_DEFAULT_REGION"
HF_TOKEN = "HF_TOKEN"
# CA bundles travel as PEM content, not paths: a path of the replica that created the job
# does not exist in a Job pod. The worker writes them to private temp files (`ca_files`).
CA_BUNDLE = "AWS_CA_BUNDLE"  # the S3 connection's CA bundle
HUB_CA_BUNDLE = "HF_CA_BUNDLE"  # the hub's (plugins.hf.ca_bundle)
VERIFY = "AWS_S3_VERIFY"  # "false": no TLS verification (as the connection says)
PROXIES = {"http": "HTTP_PROXY", "https": "HTTPS_PROXY"}


async def resolve_destination(app: Any, handler: Any, bucket: str | None,
                              prefix: str) -> tuple[dict[str, str], str, str]:
    """(connection as Secret data, bucket, prefix) for the caller; 503 without S3."""
    access = app.service("s3.access")
    if access is None:
        raise ApiError(503, "S3 is not available (the s3 plugin is off): the import has "
                       "nowhere to go")
    await access.loaded()  # the shared settings load once the server listens
    # handler None: the CLI (`odh-core hf import`), run by an operator on the shared S3.
    source = await access.resolve(handler) if handler is not None else None
    conn = source.connection if source is not None else access.connection
    if not conn.configured:
        raise ApiError(503, "S3 is not configured: the import has nowhere to go")
    bucket = bucket or conn.default_bucket
    if not bucket:
        raise ApiError(400, "bucket is required (no default bucket is configured)")
    if source is not None:  # a connection reaches the bucket it names, nothing else
        source.check_bucket(bucket)
    data = {ENDPOINT: conn.endpoint or "", ACCESS_KEY: conn.access_key_id,
            SECRET_KEY: conn.secret_access_key, REGION: conn.region or "us-east-1"}
    if conn.ca_bundle and conn.verify:
        data[CA_BUNDLE] = await read_pem(conn.ca_bundle, "the S3 connection's ca_bundle")
    if not conn.verify:
        data[VERIFY] = "false"
    proxies = conn.proxies() or {}  # NO_PROXY already applied to the endpoint
    for scheme, key in PROXIES.items():
        if proxies.get(scheme):
            data[key] = proxies[scheme]
    return data, bucket, prefix


async def hf_token_for(app: Any, handler: Any) -> str | None:
    """The hub token an import of this caller uses: their own, else the shared one when they
    are an admin or in `plugins.hf.shared_groups`, else none (public models still work).
    handler None: the CLI, run by an operator, uses the shared one."""
    tokens = app.service("hf.tokens")
    if handler is None:
        return await tokens.shared.get()
    return await tokens.for_handler(handler)


async def read_pem(path: str, what: str) -> str:
    """The CA bundle at `path` as text (read off the event loop); 503 when it is unreadable,
    before any job exists."""
    try:
        pem = await asyncio.to_thread(Path(path).read_text)
    except (OSError, UnicodeDecodeError) as exc:
        raise ApiError(503, f"{what} ({path}) cannot be read: {exc.strerror or exc}") from exc
    if "-----BEGIN" not in pem:
        raise ApiError(503, f"{what} ({path}) holds no PEM certificate")
    return pem


@contextlib.asynccontextmanager
async def ca_files(creds: dict[str, str]) -> AsyncIterator[dict[str, str]]:
    """The job Secret's CA bundles as files only this process reads ({key: path}: a private
    0700 directory, 0600 files), removed when the job's run ends. The same in a replica and
    in a Job pod."""
    pems = {k: creds[k] for k in (CA_BUNDLE, HUB_CA_BUNDLE) if creds.get(k)}
    if not pems:
        yield {}
        return

    def write() -> tuple[str, dict[str, str]]:
        directory = tempfile.mkdtemp(prefix="odh-import-ca-")  # mode 0700
        paths = {}
        for key, pem in pems.items():
            if "-----BEGIN" not in pem:  # a path, from a replica older than this change
                paths[key] = pem
                continue
            path = os.path.join(directory, f"{key.lower()}.pem")
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(pem)
            paths[key] = path
        return directory, paths

    directory, paths = await asyncio.to_thread(write)
    try:
        yield paths
    finally:
        await asyncio.to_thread(shutil.rmtree, directory, True)


@contextlib.asynccontextmanager
async def s3_client(creds: dict[str, str], ca_file: str | None = None) -> AsyncIterator[Any]:
    """An aiobotocore S3 client from a job Secret's data (imported off the hot path);
    `ca_file`: its CA bundle as written by `ca_files`."""
    session_mod = await asyncio.to_thread(importlib.import_module, "aiobotocore.session")
    config_mod = await asyncio.to_thread(importlib.import_module, "botocore.config")
    proxies = {scheme: creds[key] for scheme, key in PROXIES.items() if creds.get(key)}
    kwargs: dict[str, Any] = {
        "region_name": creds.get(REGION) or "us-east-1",
        "config": config_mod.Config(s3={"addressing_style": "path"}, proxies=proxies or None,
                                    retries={"max_attempts": 3, "mode": "standard"},
                                    connect_timeout=10, read_timeout=120,
                                    request_checksum_calculation="when_required",
                                    response_checksum_validation="when_required")}
    if creds.get(ENDPOINT):
        kwargs["endpoint_url"] = creds[ENDPOINT]
    if creds.get(ACCESS_KEY):
        kwargs["aws_access_key_id"] = creds[ACCESS_KEY]
        kwargs["aws_secret_access_key"] = creds.get(SECRET_KEY, "")
    if creds.get(VERIFY) == "false":
        kwargs["verify"] = False
    elif ca_file:
        kwargs["verify"] = ca_file
    async with session_mod.AioSession().create_client("s3", **kwargs) as client:
        yield client
