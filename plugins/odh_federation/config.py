"""Federation config: the plugin's YAML section and the module list in both schemas.

Modules come from three places, merged (a name may appear only once across them):
`MODULE_FEDERATION_CONFIG` (env, a JSON array from a ConfigMap), `plugins.federation.modules`
(YAML) and `plugins.federation.config_file` (JSON or YAML, re-read on change).

Two schemas (COMPAT.md §1):
- current: `{name, backend?: {remoteEntry, service: {name, namespace?, port}, authorize?, tls?,
  headers?, localService?}, proxyService?: [{path, pathRewrite?, service, authorize?, tls?,
  headers?}]}`
- older flat: `{name, remoteEntry, authorize, tls, proxy: [{path, pathRewrite}], local, service}`.
Extensions (both schemas): `service.url` (an explicit URL, for development), per target
`forwardCookies`, `forwardTokenHeader`, `connectTimeout`, `readTimeout`.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml
from pydantic import Field

from odh_core import HeaderPolicy, PluginConfig, service_url

SERVICE_CA = "/var/run/secrets/kubernetes.io/serviceaccount/service-ca.crt"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_PATH = re.compile(r"^(/[A-Za-z0-9._~!$&'()*+,;=:@%-]+)+$")
# Paths no module may take, whatever is installed: the core's and the dashboard's own.
RESERVED_PREFIXES = (
    "/api/k8s", "/wss", "/api/status", "/api/config", "/api/health", "/healthz", "/readyz",
    "/metrics", "/api/plugins", "/_mf", "/api/federation", "/api/service", "/api/prometheus",
    "/api/namespaces", "/api/dsc", "/api/dsci", "/api/dashboardConfig", "/api/cluster-settings",
)


def _env_config() -> str | None:
    return os.environ.get("MODULE_FEDERATION_CONFIG") or None


def _development() -> bool:
    return os.environ.get("APP_ENV") == "development"


def _default_ca() -> str | None:
    return SERVICE_CA if os.path.exists(SERVICE_CA) else None


class FederationConfig(PluginConfig):
    modules: list[dict[str, Any]] = Field(default_factory=list, description="Modules (either "
                                          "schema of COMPAT.md §1).")
    env_config: str | None = Field(default_factory=_env_config, description="JSON array of "
                                   "modules; default: env MODULE_FEDERATION_CONFIG.")
    config_file: str | None = Field(None, description="JSON/YAML file with more modules (a list "
                                    "or {modules: [...]}), re-read when it changes (ConfigMap "
                                    "mounts swap a symlink).")
    reload_interval: float = Field(5.0, gt=0, description="Seconds between checks of "
                                   "config_file.")
    namespace: str | None = Field(None, description="Namespace of services that name none; "
                                  "default: kubernetes.dashboard_namespace.")
    use_local: bool = Field(default_factory=_development, description="Development: use each "
                            "target's localService host/port instead of the in-cluster address; "
                            "default: true when env APP_ENV=development, as the Node backend.")
    proxy_prefixes: list[str] = Field(default_factory=list, description="Path families to route "
                                      "for proxyService paths of modules added at run time "
                                      "(those of modules configured at start are routed "
                                      "anyway).")
    ca_file: str | None = Field(default_factory=_default_ca, description="CA bundle for tls "
                                "targets; default: the cluster's service CA when mounted.")
    connect_timeout: float = Field(5.0, gt=0, description="Seconds to connect to a target.")
    read_timeout: float = Field(60.0, gt=0, description="Seconds without a byte from upstream.")
    retries: int = Field(2, ge=0, description="Extra tries for bodiless idempotent requests.")
    retry_backoff: float = Field(0.05, ge=0, description="First retry delay in seconds; "
                                 "doubles per try, with jitter.")
    failure_threshold: int = Field(5, ge=1, description="Consecutive failures that open a "
                                   "target's circuit breaker.")
    reset_timeout: float = Field(10.0, gt=0, description="Seconds a breaker stays open before "
                                 "a probe.")


class ModuleConfigError(ValueError):
    """A module definition that cannot be used; the message names the module."""


@dataclass(frozen=True)
class TargetSpec:
    url: str
    policy: HeaderPolicy
    connect_timeout: float | None = None
    read_timeout: float | None = None


@dataclass(frozen=True)
class ProxyPath:
    module: str
    path: str       # prefix matched on the request path, without a trailing slash
    rewrite: str    # what replaces it ("" strips it)
    target: str     # the target's name in the registry
    spec: TargetSpec


@dataclass(frozen=True)
class Module:
    name: str
    remote_entry: str
    assets: TargetSpec | None
    proxies: tuple[ProxyPath, ...] = ()
    source: str = ""

    @property
    def asset_target(self) -> str:
        return f"{self.name}/assets"


@dataclass
class ParseContext:
    namespace: str
    use_local: bool = False
    errors: list[str] = field(default_factory=list)


# -- parsing ------------------------------------------------------------------------------------
def parse_sources(cfg: FederationConfig, namespace: str, file_text: str | None = None,
                  file_name: str | None = None) -> list[Module]:
    """All modules from env, YAML and the file's text; raises ModuleConfigError."""
    raw: list[tuple[str, Any]] = []
    if cfg.env_config:
        try:
            env = json.loads(cfg.env_config)
        except ValueError as exc:
            raise ModuleConfigError(f"MODULE_FEDERATION_CONFIG is not valid JSON: {exc}") from None
        raw += [("MODULE_FEDERATION_CONFIG", m) for m in _as_list(env, "MODULE_FEDERATION_CONFIG")]
    raw += [("plugins.federation.modules", m) for m in cfg.modules]
    if file_text is not None:
        raw += [(file_name or "config_file", m) for m in parse_file_text(file_text, file_name)]
    ctx = ParseContext(namespace, cfg.use_local)
    modules = [parse_module(src, m, ctx) for src, m in raw]
    check_conflicts(modules)
    return modules


def parse_file_text(text: str, name: str | None = None) -> list[Any]:
    try:
        data = yaml.safe_load(text)  # JSON is YAML
    except yaml.YAMLError as exc:
        raise ModuleConfigError(f"{name}: not valid JSON/YAML: {exc}") from None
    if isinstance(data, dict) and "modules" in data:
        data = data["modules"]
    return _as_list(data if data is not None else [], name or "config_file")


def _as_list(data: Any, where: str) -> list[Any]:
    if not isinstance(data, list):
        raise ModuleConfigError(f"{where}: expected a JSON array of modules")
    return data


def parse_module(source: str, raw: Any, ctx: ParseContext) -> Module:
    if not isinstance(raw, Mapping):
        raise ModuleConfigError(f"{source}: a module must be an object, got {raw!r:.60}")
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise ModuleConfigError(f"{source}: module name {name!r} is missing or not a simple "
                                "name (letters, digits, '.', '_', '-')")
    where = f"module {name!r} ({source})"
    try:
        if "backend" in raw or "proxyService" in raw:
            module = _parse_current(name, raw, ctx)
        else:
            module = _parse_flat(name, raw, ctx)
    except ModuleConfigError as exc:
        raise ModuleConfigError(f"{where}: {exc}") from None
    except (ValueError, TypeError, KeyError) as exc:
        raise ModuleConfigError(f"{where}: {exc}") from None
    return Module(module.name, module.remote_entry, module.assets, module.proxies, source)


def _parse_current(name: str, raw: Mapping[str, Any], ctx: ParseContext) -> Module:
    backend = raw.get("backend")
    assets = None
    remote_entry = "/remoteEntry.js"
    if backend is not None:
        if not isinstance(backend, Mapping):
            raise ModuleConfigError("backend must be an object")
        remote_entry = backend.get("remoteEntry") or remote_entry
        assets = _target(backend, backend.get("service"), backend.get("localService"), ctx)
    proxies = []
    for i, p in enumerate(raw.get("proxyService") or []):
        if not isinstance(p, Mapping):
            raise ModuleConfigError(f"proxyService[{i}] must be an object")
        spec = _target(p, p.get("service"), p.get("localService"), ctx)
        proxies.append(_proxy_path(name, p, spec))
    return Module(name, _remote_entry(remote_entry), assets, tuple(proxies))


def _parse_flat(name: str, raw: Mapping[str, Any], ctx: ParseContext) -> Module:
    spec = _target(raw, raw.get("service"), raw.get("local"), ctx)
    proxies = []
    for i, p in enumerate(raw.get("proxy") or []):
        if not isinstance(p, Mapping):
            raise ModuleConfigError(f"proxy[{i}] must be an object")
        proxies.append(_proxy_path(name, p, spec))
    return Module(name, _remote_entry(raw.get("remoteEntry") or "/remoteEntry.js"), spec,
                  tuple(proxies))


def _remote_entry(value: Any) -> str:
    if not isinstance(value, str) or not value.startswith("/") or ".." in value:
        raise ModuleConfigError(f"remoteEntry {value!r} must be a path starting with '/'")
    return value


def _proxy_path(module: str, p: Mapping[str, Any], spec: TargetSpec) -> ProxyPath:
    path = p.get("path")
    if not isinstance(path, str) or not _PATH.match(path.rstrip("/") or "/") or ".." in path:
        raise ModuleConfigError(f"proxy path {path!r} must be an absolute path like '/x/api'")
    path = path.rstrip("/")
    rewrite = p.get("pathRewrite", path)
    if not isinstance(rewrite, str) or (rewrite and not rewrite.startswith("/")) or ".." in rewrite:
        raise ModuleConfigError(f"pathRewrite {rewrite!r} of {path} must be empty or start "
                                "with '/'")
    return ProxyPath(module, path, rewrite.rstrip("/"), f"{module}{path}", spec)


def _target(opts: Mapping[str, Any], service: Any, local: Any, ctx: ParseContext) -> TargetSpec:
    tls = bool(opts.get("tls", False))
    if ctx.use_local and isinstance(local, Mapping) and local.get("port"):
        url = f"{'https' if tls else 'http'}://{local.get('host') or 'localhost'}:{int(local['port'])}"
    elif isinstance(service, Mapping) and service.get("url"):
        url = str(service["url"])
        if not re.match(r"^https?://[^/\s]+", url):
            raise ModuleConfigError(f"service url {url!r} must be an http(s) URL")
    elif isinstance(service, Mapping):
        if "name" not in service or "port" not in service:
            raise ModuleConfigError("service needs name and port (or url)")
        url = service_url(str(service["name"]), str(service.get("namespace") or ctx.namespace),
                          service["port"], tls)
    else:
        raise ModuleConfigError("no service to send requests to")
    headers = opts.get("headers") or {}
    if not isinstance(headers, Mapping) or not all(
            isinstance(k, str) and isinstance(v, (str, int, float)) for k, v in headers.items()):
        raise ModuleConfigError("headers must map names to strings")
    policy = HeaderPolicy(authorize=bool(opts.get("authorize", False)),
                          headers={k: str(v) for k, v in headers.items()},
                          forward_cookies=bool(opts.get("forwardCookies", False)),
                          forward_token_header=bool(opts.get("forwardTokenHeader", False)))
    return TargetSpec(url, policy, _opt_float(opts, "connectTimeout"),
                      _opt_float(opts, "readTimeout"))


def _opt_float(opts: Mapping[str, Any], key: str) -> float | None:
    value = opts.get(key)
    if value is None:
        return None
    if not isinstance(value, (int, float)) or value <= 0:
        raise ModuleConfigError(f"{key} must be a positive number of seconds")
    return float(value)


# -- conflicts ----------------------------------------------------------------------------------
def overlaps(a: str, b: str) -> bool:
    """Same prefix, or one inside the other at a segment boundary."""
    return a == b or a.startswith(b.rstrip("/") + "/") or b.startswith(a.rstrip("/") + "/")


def check_conflicts(modules: Iterable[Module]) -> None:
    names: dict[str, str] = {}
    paths: dict[str, str] = {}
    for m in modules:
        if m.name in names:
            raise ModuleConfigError(f"module {m.name!r} is defined twice ({names[m.name]} and "
                                    f"{m.source})")
        names[m.name] = m.source
        for p in m.proxies:
            for prefix in RESERVED_PREFIXES:
                if overlaps(p.path, prefix):
                    raise ModuleConfigError(f"module {m.name!r}: proxy path {p.path} would "
                                            f"shadow the route {prefix}")
            for other, owner in paths.items():
                if overlaps(p.path, other):
                    raise ModuleConfigError(f"module {m.name!r}: proxy path {p.path} conflicts "
                                            f"with {other} of module {owner!r}")
            paths[p.path] = m.name


def literal_prefix(pattern: str) -> tuple[str, bool]:
    """The literal start of a route regex and whether that is the whole pattern."""
    out = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern) and not pattern[i + 1].isalnum():
            out.append(pattern[i + 1])
            i += 2
            continue
        if ch in ".^$*+?{}[]|()":
            return "".join(out), False
        out.append(ch)
        i += 1
    return "".join(out), True


def check_against_routes(modules: Iterable[Module], patterns: Iterable[str]) -> None:
    """Refuse proxy paths that other routes (core, other plugins) would take over."""
    prefixes = []
    for pattern in patterns:
        lit, whole = literal_prefix(pattern)
        lit = lit.rstrip("/")
        if lit:  # catch-alls (an SPA fallback) have none: they come after us anyway
            prefixes.append((lit, whole, pattern))
    for m in modules:
        for p in m.proxies:
            for lit, whole, pattern in prefixes:
                hit = (p.path == lit or lit.startswith(p.path + "/")) if whole else overlaps(
                    p.path, lit)
                if hit:
                    raise ModuleConfigError(f"module {m.name!r}: proxy path {p.path} conflicts "
                                            f"with the route {pattern!r}")


def family(path: str) -> str:
    """The route family a proxy path falls in: its first segment (two below /api)."""
    parts = path.strip("/").split("/")
    return "/" + "/".join(parts[:2] if parts[0] == "api" and len(parts) > 1 else parts[:1])


def read_text(path: str) -> tuple[str, tuple[Any, ...]]:
    """Blocking: the file's text and a fingerprint that changes with a ConfigMap symlink swap."""
    real = os.path.realpath(path)
    st = os.stat(real)
    return Path(real).read_text(), (real, st.st_ino, st.st_mtime_ns, st.st_size)


def fingerprint(path: str) -> tuple[Any, ...] | None:
    try:
        real = os.path.realpath(path)
        st = os.stat(real)
    except OSError:
        return None
    return (real, st.st_ino, st.st_mtime_ns, st.st_size)
