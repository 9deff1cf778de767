"""The s3 plugin's configuration (plugins.s3 in odh.yaml); defaults read the old env vars."""
from __future__ import annotations

import os
from typing import Literal

from pydantic import Field, SecretStr

from odh_core import Frontend, PluginConfig

from .static import CSP_DOC as TEC_CSP_DOC
from .multipart import DEFAULT_IN_FLIGHT, DEFAULT_PART_SIZE, MAX_OBJECT_SIZE, MIN_PART_SIZE


def _env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, "") or default)
    except ValueError:
        return default


def _env_secret(name: str) -> SecretStr | None:
    value = os.environ.get(name)
    return SecretStr(value) if value else None


class S3Config(PluginConfig):
    endpoint: str | None = Field(default_factory=lambda: _env("AWS_S3_ENDPOINT") or None,
                                 description="S3 endpoint URL (env AWS_S3_ENDPOINT); unset with "
                                 "sandbox mode: the embedded S3.")
    access_key_id: str = Field(default_factory=lambda: _env("AWS_ACCESS_KEY_ID"),
                               description="env AWS_ACCESS_KEY_ID")
    secret_access_key: SecretStr | None = Field(
        default_factory=lambda: _env_secret("AWS_SECRET_ACCESS_KEY"),
        description="env AWS_SECRET_ACCESS_KEY")
    region: str = Field(default_factory=lambda: _env("AWS_DEFAULT_REGION") or "us-east-1",
                        description="env AWS_DEFAULT_REGION")
    default_bucket: str = Field(default_factory=lambda: _env("AWS_S3_BUCKET"),
                                description="env AWS_S3_BUCKET")
    http_proxy: str = Field(default_factory=lambda: _env("HTTP_PROXY") or _env("http_proxy"),
                            description="Proxy for http:// S3 endpoints (env HTTP_PROXY).")
    https_proxy: str = Field(default_factory=lambda: _env("HTTPS_PROXY") or _env("https_proxy"),
                             description="Proxy for https:// S3 endpoints (env HTTPS_PROXY).")
    no_proxy: str = Field(default_factory=lambda: _env("NO_PROXY") or _env("no_proxy"),
                          description="Hosts reached without the proxy (env NO_PROXY).")
    ca_bundle: str | None = Field(default_factory=lambda: _env("AWS_CA_BUNDLE") or None,
                                  description="CA bundle (PEM) for the S3 endpoint and the proxy.")
    verify_tls: bool = Field(True, description="Verify the S3 endpoint's certificate.")
    max_concurrent_transfers: int = Field(
        default_factory=lambda: max(1, _env_int("MAX_CONCURRENT_TRANSFERS", 2)), ge=1,
        description="Transfers (uploads, downloads, imports) one user runs at once: the admin "
        "maximum (env MAX_CONCURRENT_TRANSFERS; changeable at run time by an admin); each user "
        "may choose a lower value for themselves.")
    max_transfers_total: int = Field(64, ge=1, description="Transfers running at once on this "
                                     "server, all users together.")
    shared_groups: list[str] = Field(
        default_factory=list, description="Groups whose members may use the shared S3 (the one "
        "configured here) besides admins. Everyone else uses their own S3 settings or their "
        "projects' S3 connections.")
    allowed_endpoints: list[str] = Field(
        default_factory=lambda: ["*.amazonaws.com"], description="S3 endpoints odh-core may "
        "connect to for a user's own settings or a project's S3 connection: shell globs over "
        "host[:port] (e.g. 'minio.storage.svc:9000'). The shared endpoint is always allowed. "
        "Users choose these endpoints, so anything else would let them make odh-core fetch "
        "any URL from inside the cluster.")
    connection_ttl: float = Field(10.0, ge=0, description="Seconds a project's S3 connection, "
                                  "read with the caller's token, is reused before it is read "
                                  "again (a deleted or changed connection stops working or "
                                  "changes within this time).")
    user_settings_ttl: float = Field(10.0, ge=0, description="Seconds a user's own settings "
                                     "are cached when no watch on them runs.")
    scope_connections_to_bucket: bool = Field(
        True, description="A project's S3 connection that names a bucket (AWS_S3_BUCKET) gives "
        "access to that bucket only, as the dashboard uses it.")
    max_clients: int = Field(64, ge=1, description="S3 clients kept open (one per distinct "
                             "endpoint and credentials; least recently used closed first).")
    list_cap: int = Field(10_000, ge=1000, description="Keys (objects and folders) a listing "
                          "without paging parameters returns before it answers isTruncated "
                          "with a nextContinuationToken (the stock UI pages no further).")
    max_upload_size: int = Field(MAX_OBJECT_SIZE, ge=1, description="Largest upload request body.")
    max_view_size: int = Field(50 * 2**20, ge=1, description="Largest object /view returns.")
    zero_copy_downloads: bool = Field(
        True, description="Relay download bodies socket to socket inside the kernel "
        "(splice) when S3 and the client both speak plain HTTP, on Linux.")
    part_size: int = Field(DEFAULT_PART_SIZE, ge=MIN_PART_SIZE,
                           description="Multipart part size floor (grows for huge objects).")
    parts_in_flight: int = Field(DEFAULT_IN_FLIGHT, ge=1, le=64,
                                 description="Parts uploading at once per transfer.")
    progress_wait: float = Field(120.0, gt=0, description="Seconds an upload-progress stream "
                                 "waits for its upload to start before it ends with an error.")
    static_dir: str | None = Field(None, description="Serve this directory (the ODH-TEC UI "
                                   "build) same-origin with an SPA fallback; None: no UI.")
    host: str | None = Field(
        None, pattern=Frontend.HOST_PATTERN, description="Host name (without port) the ODH-TEC "
        "UI is served on, e.g. tec.example.com, so it owns the root of its own origin next to "
        "the dashboard's build on the same port (the Host header as received); unset: every "
        "host not claimed by another frontend. The API is on every host.")
    content_security_policy: str | None = Field(None, description=TEC_CSP_DOC)
    settings_store: Literal["auto", "kube", "file"] = Field(
        "auto", description="Where run-time settings changes persist: kube (Secret + ConfigMap "
        "in the dashboard namespace), file (state_dir), auto (kube when a cluster is "
        "configured).")
    settings_secret: str = Field("odh-core-s3-credentials",
                                 description="Secret holding the S3 credentials.")
    settings_configmap: str = Field("odh-core-s3-settings",
                                    description="ConfigMap holding the other S3 settings.")
    settings_ttl: float = Field(5.0, ge=0, description="Seconds before persisted settings are "
                                "re-read (other replicas' changes) where they are not watched.")
    state_dir: str | None = Field(None, description="Settings file directory when not in a "
                                  "cluster; default: sandbox.state_dir.")
    disclaimer_default: str = Field("unknown", description="Disclaimer status before any PUT.")
