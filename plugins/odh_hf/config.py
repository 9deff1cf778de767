"""The hf plugin's configuration (plugins.hf in odh.yaml); defaults read the old env vars."""
from __future__ import annotations

import os
from typing import Literal

from pydantic import Field, SecretStr

from odh_core import PluginConfig

DEFAULT_ENDPOINT = "https://huggingface.co"


def _env(*names: str) -> str:
    for name in names:
        if os.environ.get(name):
            return os.environ[name]
    return ""


def _env_secret(name: str) -> SecretStr | None:
    value = os.environ.get(name)
    return SecretStr(value) if value else None


class HfConfig(PluginConfig):
    endpoint: str | None = Field(
        default_factory=lambda: _env("HF_ENDPOINT") or None,
        description="Hub URL (env HF_ENDPOINT); unset: the public hub, or the sandbox hub in "
        "sandbox mode.")
    token: SecretStr | None = Field(default_factory=lambda: _env_secret("HF_TOKEN"),
                                    description="Hub access token (env HF_TOKEN) until an "
                                    "admin sets one at run time.")
    http_proxy: str = Field(default_factory=lambda: _env("HTTP_PROXY", "http_proxy"),
                            description="Proxy for http:// hub URLs (env HTTP_PROXY).")
    https_proxy: str = Field(default_factory=lambda: _env("HTTPS_PROXY", "https_proxy"),
                             description="Proxy for https:// hub URLs (env HTTPS_PROXY).")
    no_proxy: str = Field(default_factory=lambda: _env("NO_PROXY", "no_proxy"),
                          description="Hosts reached without the proxy (env NO_PROXY).")
    ca_bundle: str | None = Field(
        default_factory=lambda: _env("HF_CA_BUNDLE", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")
        or None, description="CA bundle (PEM) trusted for the hub, its CDN and the proxy.")
    verify_tls: bool = Field(True, description="Verify the hub's TLS certificate.")
    chunk_size: int = Field(1024 * 1024, ge=16 * 1024, le=16 * 1024 * 1024,
                            description="Largest read from the hub at a time.")
    parts_in_flight: int = Field(2, ge=1, le=64, description="S3 parts uploading at once per "
                                 "imported file (capped by plugins.s3.parts_in_flight); memory "
                                 "per file is about part size x (this + 2).")
    retries: int = Field(5, ge=0, le=50, description="Retries per file after a failed or "
                         "cut download; each resumes with Range from the last byte received.")
    backoff: float = Field(0.5, ge=0, description="First retry delay in seconds; doubles "
                           "per retry.")
    backoff_max: float = Field(30.0, ge=0, description="Longest retry delay in seconds.")
    connect_timeout: float = Field(10.0, gt=0, description="Seconds to connect to the hub.")
    read_timeout: float = Field(60.0, gt=0, description="Seconds without a byte before a "
                                "download counts as stalled (and is retried).")
    max_redirects: int = Field(5, ge=0, le=10, description="Redirects followed per request.")
    shared_groups: list[str] = Field(
        default_factory=list, description="Groups whose members may import with the shared "
        "hub token besides admins; everyone else uses the token they saved themselves.")
    settings_store: Literal["auto", "kube", "file"] = Field(
        "auto", description="Where a token set at run time persists: kube (a Secret in the "
        "dashboard namespace), file (state_dir), auto (kube when a cluster is configured).")
    settings_secret: str = Field("odh-core-hf-token",
                                 description="Secret holding the hub token.")
    settings_ttl: float = Field(5.0, ge=0, description="Seconds before the persisted token "
                                "is re-read (other replicas' changes).")
    state_dir: str | None = Field(None, description="Token file directory when not in a "
                                  "cluster; default: sandbox.state_dir.")
    # -- import jobs (ImportJob custom resources; see docs/operator-guide.md) ------------------
    jobs_namespace: str | None = Field(None, description="Namespace of the ImportJobs, their "
                                       "Secrets, Leases and Jobs; default: "
                                       "kubernetes.dashboard_namespace.")
    executor: Literal["replica", "job"] = Field(
        "replica", description="Where imports run: replica (any odh-core replica, elected "
        "by a Lease) or job (a Kubernetes Job running `odh-core hf import --job NAME`).")
    lease_duration: float = Field(15.0, ge=1, description="Seconds a job's Lease stays valid "
                                  "without renewal; another replica takes the job over after "
                                  "that (renewed every third of it).")
    status_interval: float = Field(1.0, ge=0.2, description="Least seconds between two "
                                   "status writes of one job.")
    max_jobs_per_replica: int = Field(4, ge=1, description="Jobs one replica runs at once; "
                                      "others wait for a free replica.")
    files_in_flight: int = Field(2, ge=1, le=64, description="Files of one job transferring "
                                 "at once (also bounded by plugins.s3 max_concurrent_transfers).")
    part_size: int = Field(8 * 1024 * 1024, ge=5 * 1024 * 1024, le=512 * 1024 * 1024,
                           description="S3 part size of imported files; a takeover re-downloads "
                           "at most the parts not yet complete.")
    keep_finished: float = Field(7 * 86400.0, ge=0, description="Seconds a finished "
                                 "ImportJob is kept before it (and what it owns) is deleted.")
    gc_interval: float = Field(300.0, ge=1, description="Seconds between sweeps for expired "
                               "finished ImportJobs.")
    job_image: str = Field("quay.io/opendatahub/odh-core:latest", description="Image of the "
                           "Job executor's pods (the odh-core image).")
    job_service_account: str = Field("odh-core-import-worker", description="Service account "
                                     "of the Job executor's pods (contrib/deploy/imports ships it "
                                     "with its Role: what odh_hf.executor.job_rbac renders).")
    job_resources: dict[str, dict[str, str]] = Field(
        default_factory=lambda: {"requests": {"cpu": "500m", "memory": "256Mi"},
                                 "limits": {"memory": "1Gi"}},
        description="Resources of the Job executor's pods.")
