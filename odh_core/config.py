"""Configuration: YAML file, then the old backends' env vars, then `ODH_<SECTION>__<KEY>`.

The core's sections are typed pydantic models (unknown keys are errors). Each plugin's section
under `plugins:` is validated by that plugin's own `Config` model when the loader builds it.
"""
from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Any, Literal, Mapping

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SecurityHeadersConfig(_Model):
    """Headers on every response (success, error and streamed alike)."""

    enabled: bool = Field(True, description="Send the headers below.")
    frame_options: str = Field("DENY", description="X-Frame-Options (with CSP frame-ancestors).")
    referrer_policy: str = Field("same-origin", description="Referrer-Policy.")
    content_security_policy: str = Field(
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "frame-ancestors 'none'", description="Content-Security-Policy of the API and the core's "
        "own pages (the API page). A served frontend sends its own instead, what that build "
        "needs: plugins.dashboard.content_security_policy, plugins.s3.content_security_policy.")
    hsts_seconds: int = Field(31536000, description="Strict-Transport-Security max-age when "
                              "the request came over TLS (0: never).")


class CorsConfig(_Model):
    """Cross-origin access: off unless origins are listed."""

    allowed_origins: list[str] = Field(default_factory=list, description="Origins allowed "
                                       "to call the API from a browser (exact match; '*' only "
                                       "without credentials).")
    allowed_methods: list[str] = Field(
        default_factory=lambda: ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
        description="Methods a preflight may allow.")
    allowed_headers: list[str] = Field(
        default_factory=lambda: ["Authorization", "Content-Type", "X-Request-Id",
                                 "X-Odh-Feature-Flags"],
        description="Request headers a preflight may allow.")
    exposed_headers: list[str] = Field(
        default_factory=lambda: ["Content-Disposition", "X-Request-Id", "Retry-After"],
        description="Response headers scripts may read.")
    allow_credentials: bool = Field(False, description="Allow cookies/credentials "
                                    "(never together with '*').")
    max_age: int = Field(600, description="Seconds a browser may cache a preflight answer.")


class TlsConfig(_Model):
    """Serve HTTPS directly (no proxy in front); files are re-read when they change."""

    cert: str | None = Field(None, description="PEM certificate chain file.")
    key: str | None = Field(None, description="PEM private key file.")
    reload_interval: float = Field(30.0, description="Seconds between checks for a rotated "
                                   "certificate.")


class ServerConfig(_Model):
    host: str = Field("0.0.0.0", description="Address to listen on (env IP).")
    port: int = Field(8080, ge=0, le=65535, description="Port to listen on (env PORT).")
    workers: int = Field(1, ge=1, description="Processes sharing the port; one per core.")
    max_body_size: int = Field(10 * 2**20, description="Largest buffered request body in bytes; "
                               "streaming routes (uploads, proxies) set their own limits.")
    body_timeout: float = Field(60.0, ge=0, description="Seconds a buffered request body "
                                "(JSON, forms) may take to arrive in full (0: no limit); "
                                "streaming routes (uploads, proxies) have only the idle limit.")
    body_idle_timeout: float = Field(30.0, ge=0, description="Seconds a request body may "
                                     "send nothing before the connection is closed (0: no "
                                     "limit). Bodies are read only once the caller is known.")
    grace_period: float = Field(20.0, description="Seconds in-flight requests get after SIGTERM.")
    shutdown_timeout: float = Field(10.0, description="Seconds each plugin's shutdown hook gets.")
    xheaders: bool = Field(True, description="Trust X-Forwarded-For/-Proto from the auth proxy.")
    cookie_secret: SecretStr | None = Field(None, description="Signs cookies (dev impersonation); "
                                            "random per start when unset.")
    allowed_origins: list[str] = Field(default_factory=list, description="Origins besides the "
                                       "server's own that may open WebSockets.")
    reload: bool = Field(False, description="Restart on code change (development).")
    websocket_ping_interval: float = Field(
        30.0, gt=0, description="Seconds between WebSocket pings (keeps idle sockets alive "
        "through proxies and notices dead peers).")
    websocket_ping_timeout: float = Field(
        30.0, ge=0, description="Seconds without a pong before a WebSocket is closed (0: never); "
        "at most websocket_ping_interval (Tornado's rule: a ping is answered before the next "
        "one).")
    security_headers: SecurityHeadersConfig = Field(default_factory=SecurityHeadersConfig,
                                                    description="Response security headers.")
    cors: CorsConfig = Field(default_factory=CorsConfig, description="Cross-origin access.")
    tls: TlsConfig = Field(default_factory=TlsConfig, description="HTTPS serving.")

    @model_validator(mode="after")
    def _ping_timeout_within_interval(self) -> "ServerConfig":
        if self.websocket_ping_timeout > self.websocket_ping_interval:
            raise ValueError("websocket_ping_timeout cannot be longer than "
                             "websocket_ping_interval")
        return self


class LoggingConfig(_Model):
    level: str = Field("INFO", description="Root log level (env LOG_LEVEL).")
    format: Literal["auto", "json", "text"] = Field(
        "auto", description="json, text, or auto (text on a terminal, else json).")
    access_log: bool = Field(True, description=(
        "One line per request on logger odh.access; in json format they are written in "
        "batches, once per event-loop turn."))


class AdminReview(_Model):
    """The access review whose `status.allowed` makes a user an admin (COMPAT.md §1)."""

    verb: str = Field("patch", description="Verb of the review.")
    group: str = Field("services.platform.opendatahub.io", description="API group reviewed.")
    resource: str = Field("auths", description="Resource (plural) reviewed.")
    name: str | None = Field("default-auth", description="Object name reviewed (null: any).")
    namespace: str | None = Field(None, description="Namespace reviewed (null: cluster scope).")


class DevUser(_Model):
    username: str = Field(description="User name shown for this dev user.")
    groups: list[str] = Field(default_factory=list, description="Groups of this dev user.")
    token: SecretStr | None = Field(None, description="Token the dev user acts with on the cluster.")


class AuthConfig(_Model):
    mode: Literal["token", "trusted-header", "dev"] = Field(
        "token", description="token: bearer token validated by the cluster; trusted-header: "
        "user/groups from headers set by kube-rbac-proxy; dev: like token, but a request "
        "without one acts as the dev user.")
    token_headers: list[str] = Field(
        default_factory=lambda: ["x-forwarded-access-token", "authorization"],
        description="Headers searched for the user's token, in order ('authorization' is read "
        "as 'Bearer <token>').")
    user_header: str = Field("x-forwarded-user", description="trusted-header mode: the header "
                             "naming the user (only behind a proxy that sets it).")
    groups_header: str = Field("x-forwarded-groups", description="trusted-header mode: "
                               "comma-separated groups.")
    cache_ttl: float = Field(30.0, description="Seconds an identity or admin answer is cached "
                             "per token hash.")
    negative_cache_ttl: float = Field(5.0, description="Seconds a rejected token is remembered.")
    cache_size: int = Field(10_000, ge=1, description="Tokens kept in each cache.")
    admin_groups: list[str] = Field(default_factory=list,
                                    description="Members are admins without an access review.")
    admin_review: AdminReview | None = Field(
        default_factory=AdminReview, description="The SelfSubjectAccessReview, sent with the "
        "user's token, whose status.allowed makes an admin (null: admin groups only).")
    insecure_dev_auth_on_network: bool = Field(
        False, description="DANGER: let dev auth (mode dev, --dev, APP_ENV=development) run "
        "on a non-loopback address and answer non-loopback peers. Anyone who can reach the "
        "port acts as the dev user (an admin). Without it odh-core refuses to start.")
    max_token_bytes: int = Field(16384, ge=256, description="Longest token accepted; longer "
                                 "ones are refused (401) before any review or cache.")
    cache_bytes: int = Field(64 * 2**20, ge=2**16, description="Bytes the identity cache may "
                             "hold (tokens included), besides its entry bound.")
    dev_user: str = Field("admin", description="Key in dev_users used for token-less requests.")
    dev_users: dict[str, DevUser] = Field(default_factory=dict, description="dev mode: users "
                                          "by key ({username, groups, token}); the sandbox adds "
                                          "its seed users.")


class KubernetesConfig(_Model):
    host: str | None = Field(None, description="API server URL; unset: in-cluster, kubeconfig, "
                             "else the sandbox.")
    ca_file: str | None = Field(None, description="CA bundle that signs the API server's "
                                "certificate.")
    token: SecretStr | None = Field(None, description="Service-account token (else token_file).")
    token_file: str | None = Field(None, description="File holding the service-account token "
                                   "(re-read as it rotates).")
    insecure_skip_tls_verify: bool = Field(False, description="Do not verify the API server's "
                                           "certificate (never in production).")
    kubeconfig: str | None = Field(None, description="Kubeconfig path (else KUBECONFIG, "
                                   "~/.kube/config).")
    context: str | None = Field(None, description="Kubeconfig context (default: current).")
    dashboard_namespace: str = Field("opendatahub", description="Where the dashboard's own "
                                     "objects live.")
    connect_timeout: float = Field(5.0, description="Seconds to connect to the API server.")
    request_timeout: float = Field(30.0, description="Seconds for a non-streaming API call.")
    allow_plain_http: bool = Field(False, description="Permit an http:// API server outside "
                                   "sandbox/dev mode (never in production).")
    clusters: dict[str, ClusterConfig] = Field(
        default_factory=dict, description="More clusters by name; the settings above are the "
        "default cluster (name 'default'). Routes address one as /api/clusters/<name>/k8s/...")


class ClusterConfig(_Model):
    """Another cluster, addressed by a path prefix (/api/clusters/<name>/...)."""

    host: str | None = Field(None, description="API server URL (else kubeconfig/context).")
    ca_file: str | None = Field(None, description="CA bundle of that API server.")
    token: SecretStr | None = Field(None, description="Service-account token there.")
    token_file: str | None = Field(None, description="File holding that token.")
    insecure_skip_tls_verify: bool = Field(False, description="Skip TLS verification (never "
                                           "in production).")
    kubeconfig: str | None = Field(None, description="Kubeconfig path for this cluster.")
    context: str | None = Field(None, description="Kubeconfig context for this cluster.")


class SandboxConfig(_Model):
    mode: Literal["auto", "on", "off"] = Field(
        "auto", description="auto: embed what is not configured (no cluster found -> embedded "
        "API server; no S3 endpoint -> embedded S3); on: the same, and say so even if all is "
        "configured; off: never embed.")
    seed_dir: str | None = Field(None, description="Seed objects; default conf/sandbox.")
    state_dir: str = Field(".state", description="Where sandbox kubeconfig and state go.")


class AuditConfig(_Model):
    """One structured event per state-changing request and per admin read."""

    enabled: bool = Field(True, description="Write audit events to logger odh.audit.")
    level: str = Field("INFO", description="Log level of audit events.")
    include_reads: bool = Field(False, description="Also audit every read, not only admin "
                                "reads.")


class LimitsConfig(_Model):
    """Per-user limits (0 means unlimited)."""

    requests_per_second: float = Field(0.0, description="Token-bucket refill rate per user.")
    burst: int = Field(50, description="Token-bucket size per user.")
    concurrent_streams: int = Field(64, ge=0, description="Long-lived responses open at once "
                                    "per user and replica: WebSockets, watches and followed "
                                    "logs through /api/k8s, server-sent events, streamed proxy "
                                    "responses, uploads, downloads, imports (0: unlimited).")
    exempt_admins: bool = Field(True, description="Admins bypass the limits.")
    max_users_tracked: int = Field(100_000, description="Buckets kept (least recently used "
                                   "dropped).")


class Settings(_Model):
    server: ServerConfig = Field(default_factory=ServerConfig, description="The HTTP server.")
    logging: LoggingConfig = Field(default_factory=LoggingConfig, description="Logs.")
    auth: AuthConfig = Field(default_factory=AuthConfig, description="Who is calling, and "
                             "who is an admin.")
    kubernetes: KubernetesConfig = Field(default_factory=KubernetesConfig,
                                         description="The cluster odh-core acts on.")
    sandbox: SandboxConfig = Field(default_factory=SandboxConfig, description="Embedded "
                                   "stand-ins for laptops and tests.")
    audit: AuditConfig = Field(default_factory=AuditConfig, description="The audit trail.")
    limits: LimitsConfig = Field(default_factory=LimitsConfig, description="Per-user limits.")
    plugin_autoload: bool = Field(True, description="false: load only plugins marked "
                                  "enabled: true.")
    plugins: dict[str, dict[str, Any]] = Field(default_factory=dict, description="Per-plugin "
                                               "sections, validated by each plugin's Config.")


class ConfigError(Exception):
    """A configuration problem, with a message that names the file, key or plugin."""


def is_loopback(host: str | None) -> bool:
    """Whether an address (or the host name `localhost`) is on the loopback interface."""
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]").split("%")[0]).is_loopback
    except ValueError:
        return False


def check_dev_auth_bind(settings: "Settings") -> None:
    """Refuse dev auth on an address other machines can reach (ConfigError names the flag)."""
    auth, host = settings.auth, settings.server.host
    if auth.mode == "dev" and not is_loopback(host) and not auth.insecure_dev_auth_on_network:
        raise ConfigError(
            f"refusing to start: dev auth is on (auth.mode: dev, set by --dev or "
            f"APP_ENV=development) and server.host is {host!r}, not a loopback address: anyone "
            "who reaches the port would act as an administrator. Bind 127.0.0.1 (--host "
            "127.0.0.1), or turn dev auth off; to accept the risk anyway set "
            "auth.insecure_dev_auth_on_network: true (--insecure-dev-auth-on-network).")


LEGACY_ENV = {
    "PORT": ("server", "port"),
    "IP": ("server", "host"),
    "LOG_LEVEL": ("logging", "level"),
}


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    """`ODH_SERVER__PORT=9000` -> {"server": {"port": 9000}}; values are YAML scalars."""
    tree: dict[str, Any] = {}
    for name, meaning in LEGACY_ENV.items():
        if environ.get(name):
            tree.setdefault(meaning[0], {})[meaning[1]] = environ[name]
    if environ.get("APP_ENV") == "development":
        tree.setdefault("auth", {})["mode"] = "dev"
    for name, raw in environ.items():
        if not name.startswith("ODH_") or name == "ODH_CONFIG":
            continue
        if "__" not in name and name[4:].lower() not in Settings.model_fields:
            continue
        path = [p.lower() for p in name[4:].split("__") if p]
        node = tree
        for part in path[:-1]:
            node = node.setdefault(part, {})
        try:
            node[path[-1]] = yaml.safe_load(raw) if raw != "" else None
        except yaml.YAMLError:
            node[path[-1]] = raw
    return tree


def read_yaml(path: str | Path) -> dict[str, Any]:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping at the top level")
    return data


def load_settings(path: str | Path | None = None, *, environ: Mapping[str, str] | None = None,
                  overrides: Mapping[str, Any] | None = None) -> Settings:
    """Build Settings from a file (or ODH_CONFIG), the environment and explicit overrides."""
    environ = os.environ if environ is None else environ
    path = path or environ.get("ODH_CONFIG")
    data: dict[str, Any] = read_yaml(path) if path else {}
    data = deep_merge(data, env_overrides(environ))
    if overrides:
        data = deep_merge(data, overrides)
    return validate_settings(data, source=str(path or "defaults"))


def validate_settings(data: Mapping[str, Any], source: str = "config") -> Settings:
    plugins = data.get("plugins") or {}
    if not isinstance(plugins, Mapping) or any(
            v is not None and not isinstance(v, Mapping) for v in plugins.values()):
        raise ConfigError(f"{source}: 'plugins' must map plugin names to mappings")
    data = dict(data, plugins={k: dict(v or {}) for k, v in plugins.items()})
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {format_validation_error(exc)}") from None


def format_validation_error(exc: ValidationError, prefix: str = "") -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in (prefix, *err["loc"]) if p != "")
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        parts.append(f"{loc}: {msg}")
    return "; ".join(parts)
