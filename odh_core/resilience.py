"""Resilience for upstream targets, shared by every plugin that forwards to a service it does
not own (package BFFs, ML service proxies, Prometheus): per-target timeouts, retries with
exponential backoff and jitter, a circuit breaker, per-target metrics, TLS with a CA bundle and
the `http(s)://<service>.<namespace>.svc.cluster.local:<port>` address template.

- `CircuitBreaker` and `RetryPolicy` are plain objects (the breaker's clock is injectable).
- `Target` is one upstream: base URL, header policy, TLS, timeouts, its breaker and retry policy.
- `TargetRegistry` keeps targets per plugin by name, so a breaker's state survives a config
  reload that keeps the target, and owns the per-target metrics.
- `ResilientProxyHandler` is `ProxyHandler` plus all of the above: a subclass says which target
  and which path (`resolve()`); the breaker answers 503 at once while open; bodiless idempotent
  requests are retried before any byte of the response was relayed.
"""
from __future__ import annotations

import asyncio
import random
import re
import ssl
import time
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

from .errors import ApiError
from .proxy import ProxyHandler, Upstream, join_url

if TYPE_CHECKING:  # pragma: no cover
    import aiohttp

    from .observability import PluginMetrics

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})


@cache
def retryable_errors() -> tuple[type[BaseException], ...]:
    """Failures worth a retry: the request most likely never reached the application. (A
    function: aiohttp is not imported at boot, see odh_core.sessions.)"""
    import aiohttp

    return (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, asyncio.TimeoutError,
            ConnectionError)


SERVICE_URL = "{scheme}://{service}.{namespace}.svc.cluster.local:{port}"
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def service_url(service: str, namespace: str, port: int | str, tls: bool = False) -> str:
    """The in-cluster address of a Service port; names are checked (they become a host name)."""
    for what, value in (("service", service), ("namespace", namespace)):
        if not _DNS_LABEL.match(value or ""):
            raise ValueError(f"{what} name {value!r} is not a DNS-1123 label")
    if not str(port).isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"port {port!r} is not a port number")
    return SERVICE_URL.format(scheme="https" if tls else "http", service=service,
                              namespace=namespace, port=int(port))


# -- circuit breaker ----------------------------------------------------------------------------
class CircuitBreaker:
    """Opens after `failure_threshold` consecutive failures; while open every call is refused
    at once; after `reset_timeout` seconds one probe is let through (half-open): success closes
    the breaker, failure opens it again for another `reset_timeout`."""

    CLOSED, HALF_OPEN, OPEN = "closed", "half-open", "open"
    STATE_VALUES = {CLOSED: 0, HALF_OPEN: 1, OPEN: 2}

    def __init__(self, failure_threshold: int = 5, reset_timeout: float = 10.0,
                 clock: Callable[[], float] = time.monotonic,
                 on_change: Callable[[str], None] | None = None):
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be >= 1")
        self.failure_threshold = failure_threshold
        self.reset_timeout = reset_timeout
        self.clock = clock
        self.on_change = on_change
        self.failures = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> str:
        if self._opened_at is None:
            return self.CLOSED
        if self._probing or self.clock() - self._opened_at >= self.reset_timeout:
            return self.HALF_OPEN
        return self.OPEN

    def retry_after(self) -> float:
        """Seconds until a probe will be let through (0 when calls pass now)."""
        if self._opened_at is None:
            return 0.0
        return max(0.0, self.reset_timeout - (self.clock() - self._opened_at))

    def allow(self) -> bool:
        """May a call go out now? In half-open state only one probe is in flight at a time;
        the caller must then report `record_success`, `record_failure` or `release`."""
        state = self.state
        if state == self.CLOSED:
            return True
        if state == self.HALF_OPEN and not self._probing:
            self._probing = True
            self._notify()
            return True
        return False

    def record_success(self) -> None:
        was = self.state
        self.failures = 0
        self._opened_at = None
        self._probing = False
        if was != self.CLOSED:
            self._notify()

    def record_failure(self) -> None:
        self.failures += 1
        if self._probing or (self._opened_at is None
                             and self.failures >= self.failure_threshold):
            self._opened_at = self.clock()
            self._probing = False
            self._notify()

    def release(self) -> None:
        """A call ended without a verdict (the client left): free the probe slot."""
        self._probing = False

    def _notify(self) -> None:
        if self.on_change is not None:
            self.on_change(self.state)


# -- retries ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RetryPolicy:
    """`attempts` tries in all (1 = no retry); exponential backoff from `backoff` seconds,
    capped at `max_backoff`, with `jitter` as the random fraction taken off each delay."""

    attempts: int = 3
    backoff: float = 0.05
    max_backoff: float = 1.0
    jitter: float = 0.5
    methods: frozenset[str] = IDEMPOTENT_METHODS

    def allows(self, method: str, attempt: int, *, has_body: bool) -> bool:
        """May try number `attempt + 1` follow a failed try number `attempt`? Never for a
        request with a body (it was consumed) or a method that is not idempotent."""
        return not has_body and method.upper() in self.methods and attempt < self.attempts

    def delay(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait after failed try number `attempt` (1-based)."""
        base = min(self.max_backoff, self.backoff * 2 ** max(0, attempt - 1))
        return base * (1 - self.jitter * rand())


# -- targets ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TargetSettings:
    """How one target is called; plugins fill it from their config."""

    connect_timeout: float = 5.0
    read_timeout: float = 60.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    failure_threshold: int = 5
    reset_timeout: float = 10.0
    # Upstream answers that count as a failure of the target (for the breaker).
    failure_statuses: frozenset[int] = frozenset({502, 503, 504})
    ca_file: str | None = None
    verify: bool = True

    def timeout(self) -> aiohttp.ClientTimeout:
        import aiohttp

        return aiohttp.ClientTimeout(sock_connect=self.connect_timeout, connect=None,
                                     sock_read=self.read_timeout)


@dataclass(frozen=True)
class HeaderPolicy:
    """What a target gets besides the client's own headers."""

    authorize: bool = False          # Authorization: Bearer <user token>
    headers: Mapping[str, str] = field(default_factory=dict)
    forward_cookies: bool = False
    forward_token_header: bool = False  # keep the auth proxy's x-forwarded-access-token


class TargetMetrics:
    """Per-target series, created once per plugin (names carry the plugin's name)."""

    def __init__(self, metrics: "PluginMetrics"):
        prefix = "odh_" + re.sub(r"[^a-zA-Z0-9_]", "_", metrics.plugin) + "_upstream"
        self.requests = metrics.counter(f"{prefix}_requests_total",
                                        "Upstream answers by target and status code.",
                                        ["target", "code"])
        self.errors = metrics.counter(f"{prefix}_errors_total",
                                      "Calls that failed by target and kind.", ["target", "kind"])
        self.retries = metrics.counter(f"{prefix}_retries_total", "Retried calls by target.",
                                       ["target"])
        self.latency = metrics.histogram(f"{prefix}_latency_seconds",
                                         "Time to the upstream's response headers.", ["target"],
                                         buckets=(.001, .005, .01, .025, .05, .1, .25, .5, 1,
                                                  2.5, 5, 10, 30))
        self.breaker = metrics.gauge(f"{prefix}_breaker_state",
                                     "Circuit breaker: 0 closed, 1 half-open, 2 open.",
                                     ["target"])


class Target:
    """One upstream service: where, how (headers, TLS, timeouts) and how it has been doing."""

    def __init__(self, name: str, base_url: str, *, policy: HeaderPolicy | None = None,
                 settings: TargetSettings | None = None, metrics: TargetMetrics | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.policy = policy or HeaderPolicy()
        self.settings = settings or TargetSettings()
        self.metrics = metrics
        self.breaker = CircuitBreaker(self.settings.failure_threshold,
                                      self.settings.reset_timeout, clock, self._breaker_changed)
        self._ssl: ssl.SSLContext | bool | None = None
        if metrics is not None:
            metrics.breaker.labels(name).set(0)

    def __repr__(self) -> str:
        return f"Target({self.name!r}, {self.base_url!r}, {self.breaker.state})"

    @property
    def retry(self) -> RetryPolicy:
        return self.settings.retry

    @property
    def ssl(self) -> ssl.SSLContext | bool:
        """TLS for https targets: the configured CA bundle, else the system's (built once)."""
        if self._ssl is None:
            s = self.settings
            if not s.verify:
                self._ssl = False
            elif s.ca_file and self.base_url.startswith("https://"):
                self._ssl = ssl.create_default_context(cafile=s.ca_file)
            else:
                self._ssl = True
        return self._ssl

    def url(self, path: str = "", query: str = "") -> str:
        return join_url(self.base_url, path, query) if path or query else self.base_url

    def circuit_open(self) -> ApiError:
        wait = self.breaker.retry_after()
        return ApiError(503, f"upstream {self.name!r} is unavailable (circuit open after "
                        "repeated failures); try again shortly",
                        headers={"Retry-After": str(max(1, round(wait)))})

    # -- bookkeeping ----------------------------------------------------------------------------
    def _breaker_changed(self, state: str) -> None:
        if self.metrics is not None:
            self.metrics.breaker.labels(self.name).set(CircuitBreaker.STATE_VALUES[state])

    def answered(self, status: int, seconds: float) -> None:
        if self.metrics is not None:
            self.metrics.requests.labels(self.name, str(status)).inc()
            self.metrics.latency.labels(self.name).observe(seconds)
        if status in self.settings.failure_statuses:
            self.breaker.record_failure()
        else:
            self.breaker.record_success()

    def failed(self, exc: BaseException) -> None:
        import aiohttp

        if self.metrics is not None:
            kind = "timeout" if isinstance(exc, asyncio.TimeoutError) else "connect" if isinstance(
                exc, (aiohttp.ClientConnectorError, ConnectionRefusedError)) else "io"
            self.metrics.errors.labels(self.name, kind).inc()
        self.breaker.record_failure()

    def retried(self) -> None:
        if self.metrics is not None:
            self.metrics.retries.labels(self.name).inc()

    # -- buffered calls (JSON APIs such as Prometheus, health probes) ---------------------------
    async def fetch(self, session: aiohttp.ClientSession, method: str, path: str = "", *,
                    query: str = "", headers: Mapping[str, str] | None = None,
                    data: bytes | None = None, max_bytes: int = 32 * 2**20
                    ) -> tuple[int, Mapping[str, str], bytes]:
        """One call with breaker, retries and timeouts; the body read whole (up to max_bytes).

        Raises `ApiError(503)` while the breaker is open, else the last aiohttp/timeout error.
        """
        attempt = 0
        while True:
            if not self.breaker.allow():
                raise self.circuit_open()
            attempt += 1
            started = time.perf_counter()
            try:
                async with session.request(method, self.url(path, query), headers=dict(
                        headers or {}), data=data, ssl=self.ssl, allow_redirects=False,
                        timeout=self.settings.timeout()) as resp:
                    body = await resp.content.read(max_bytes + 1)
                    if len(body) > max_bytes:
                        raise ApiError(502, f"upstream {self.name!r} answered more than "
                                       f"{max_bytes} bytes")
                    self.answered(resp.status, time.perf_counter() - started)
                    return resp.status, resp.headers, body
            except retryable_errors() as exc:
                self.failed(exc)
                if not self.retry.allows(method, attempt, has_body=data is not None):
                    raise
                self.retried()
                await asyncio.sleep(self.retry.delay(attempt))
            except BaseException:
                self.breaker.release()
                raise


class TargetRegistry:
    """A plugin's targets by name. `ensure()` returns the existing target when its address and
    settings did not change, so breaker state and metrics survive config reloads."""

    def __init__(self, metrics: "PluginMetrics | None" = None,
                 clock: Callable[[], float] = time.monotonic):
        self.metrics = TargetMetrics(metrics) if metrics is not None else None
        self.clock = clock
        self._targets: dict[str, Target] = {}

    def ensure(self, name: str, base_url: str, *, policy: HeaderPolicy | None = None,
               settings: TargetSettings | None = None) -> Target:
        policy = policy or HeaderPolicy()
        settings = settings or TargetSettings()
        old = self._targets.get(name)
        if old is not None and (old.base_url, old.policy, old.settings) == (
                base_url.rstrip("/"), policy, settings):
            return old
        target = Target(name, base_url, policy=policy, settings=settings, metrics=self.metrics,
                        clock=self.clock)
        self._targets[name] = target
        return target

    def get(self, name: str) -> Target | None:
        return self._targets.get(name)

    def retain(self, names: Iterable[str]) -> None:
        """Forget targets no longer configured."""
        keep = set(names)
        for name in [n for n in self._targets if n not in keep]:
            del self._targets[name]

    def __iter__(self):
        return iter(list(self._targets.values()))

    def open_targets(self) -> list[Target]:
        return [t for t in self._targets.values() if t.breaker.state == CircuitBreaker.OPEN]


# -- the proxy handler --------------------------------------------------------------------------
class ResilientProxyHandler(ProxyHandler):
    """`ProxyHandler` for a `Target`: subclasses implement `resolve()` returning the target and
    the path (with query) below its base URL.

    Header policy: the client's headers minus hop-by-hop ones, cookies, the token headers and
    impersonation (cookies/the auth proxy's token header kept only when the target asks), plus
    the target's configured headers, `Authorization: Bearer <user token>` when the target says
    `authorize`, `X-Forwarded-For/-Proto/-Host` and `X-Request-Id`.
    """

    async def resolve(self) -> tuple[Target, str]:  # pragma: no cover - abstract
        raise NotImplementedError

    def target_headers(self, target: Target) -> dict[str, str]:
        policy = target.policy
        drop = set(self.strip_request_headers)
        if policy.forward_cookies:
            drop.discard("cookie")
        if policy.forward_token_header:
            drop.discard("x-forwarded-access-token")
        self.strip_request_headers = frozenset(drop)
        headers = self.forward_headers()
        for name in [n for n in headers if n.lower().startswith("x-forwarded-")
                     and n.lower() != "x-forwarded-access-token"]:
            del headers[name]
        req = self.request
        headers["X-Forwarded-For"] = req.remote_ip or ""  # what odh-core saw, not the client's
        headers["X-Forwarded-Proto"] = req.headers.get("X-Forwarded-Proto") or req.protocol
        headers["X-Forwarded-Host"] = req.headers.get("X-Forwarded-Host") or req.host
        headers["X-Request-Id"] = self.request_id
        headers.update(policy.headers)
        if policy.authorize:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    async def upstream(self) -> Upstream:
        target, path = await self.resolve()
        if not target.breaker.allow():
            raise target.circuit_open()
        self._target = target
        self._target_verdict = False
        path, _, query = path.partition("?")
        return Upstream(target.url(path or "/", query), self.target_headers(target),
                        ssl=target.ssl, timeout=target.settings.timeout())

    async def _open(self, up: Upstream, body: Any) -> aiohttp.ClientResponse:
        target: Target = self._target
        method = self.request.method or "GET"
        attempt = 0
        while True:
            attempt += 1
            if attempt > 1 and not target.breaker.allow():
                raise target.circuit_open()
            started = time.perf_counter()
            try:
                resp = await super()._open(up, body)
            except retryable_errors() as exc:
                self._upstream_cm = None  # nothing to close: the request never got an answer
                target.failed(exc)
                if not target.retry.allows(method, attempt, has_body=body is not None):
                    self._target_verdict = True
                    raise
                target.retried()
                await asyncio.sleep(target.retry.delay(attempt))
                continue
            except BaseException:
                self._upstream_cm = None
                raise
            self._target_verdict = True
            target.answered(resp.status, time.perf_counter() - started)
            return resp

    def on_finish(self) -> None:
        target = getattr(self, "_target", None)
        if target is not None and not getattr(self, "_target_verdict", True):
            target.breaker.release()  # cancelled before a verdict: free a half-open probe
            self._target_verdict = True
        super().on_finish()
