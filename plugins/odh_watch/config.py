"""Configuration of the watch plugin (`plugins.watch` in odh.yaml)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from odh_core import PluginConfig


class WatchConfig(PluginConfig):
    mode: Literal["auto", "per-user", "shared"] = Field(
        "auto", description="auto: a key (resource, namespace, selectors) the service account "
        "may list and watch is served by one shared informer, every subscriber admitted by an "
        "access review with their own token; any other key by one upstream watch per (user "
        "token, key), shared by all that user's sockets. shared: always the service account's "
        "informer (a key it may not watch is refused with 1011). per-user: every key by one "
        "upstream watch per (user token, key): no resource is watched with the service "
        "account (the old backend opened one upstream per WebSocket).")
    user_filtered_resources: list[str] = Field(
        ["projects.project.openshift.io"], description="auto mode: resources (plural.group) "
        "whose lists the API server filters per user, so one user's view is never another's: "
        "always one upstream per (user, key), even where the service account may watch them.")
    linger_seconds: float = Field(
        5.0, ge=0, description="How long a shared informer stays open after its last "
        "subscriber left (a page reload re-subscribes without a relist).")
    access_ttl_seconds: float = Field(
        60.0, gt=0, description="How often each subscriber's access "
        "review is repeated (and how long the service account's own 'may I watch this key' "
        "answer is kept); access lost closes the socket with 1008.")
    recheck_on_rbac_change: bool = Field(
        True, description="Watch Roles, ClusterRoles and their bindings "
        "with the service account and repeat the access reviews at once when one changes "
        "(needs list/watch on them; without it, the TTL alone applies).")
    max_pending_frames: int = Field(
        1000, ge=1, description="Frames a client may have unsent before it is closed as too "
        "slow (never buffered without bound).")
    max_pending_bytes: int = Field(
        8 * 2**20, ge=1024, description="Bytes a client may have unsent before it is closed as "
        "too slow.")
    slow_close_code: Literal[1008, 1013] = Field(
        1013, description="Close code for a slow consumer: 1013 (try again later) or 1008.")
    backoff_initial_seconds: float = Field(0.2, gt=0, description="First reconnect delay.")
    backoff_max_seconds: float = Field(30.0, gt=0, description="Largest reconnect delay.")
    upstream_timeout_seconds: int = Field(
        300, ge=1, description="timeoutSeconds of each upstream watch; it is then resumed from "
        "the last resourceVersion (a fresh request now and then, like client-go).")
    max_line_bytes: int = Field(
        32 * 2**20, ge=1024, description="Largest upstream watch event / log line accepted.")
    history_events: int = Field(
        1000, ge=0, description="Recent events kept per informer so a "
        "subscriber with a resourceVersion gets exactly what it missed.")
    discovery_ttl_seconds: float = Field(
        300.0, gt=0, description="How long the API discovery (resource name -> group/version) "
        "is cached for the simplified /wss/k8s/watch form.")
    log_tail_lines_max: int = Field(
        10_000, ge=1, description="Upper bound on tailLines for /wss/k8s/logs.")
