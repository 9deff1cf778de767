"""Async access to the Kubernetes API: where the cluster is, and a streaming client for it.

Requests go through the app's pooled aiohttp session (keep-alive, never blocks the loop). The
connection comes from, first that applies: `kubernetes.host` in config, the in-cluster service
account, the kubeconfig (KUBECONFIG / ~/.kube/config, read with the `kubernetes` package's own
loader), else none (the caller may embed the sandbox). For typed calls a plugin can ask for a
`kubernetes.aio` ApiClient bound to a token (`api_client`).
"""
from __future__ import annotations

import asyncio
import json as jsonlib
import logging
import os
import ssl
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, AsyncIterator, Callable, Mapping

from .config import KubernetesConfig
from .errors import ApiError

if TYPE_CHECKING:  # pragma: no cover
    import aiohttp

    from .sessions import Sessions

log = logging.getLogger("odh.kube")

IN_CLUSTER_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class _ServiceAccount:
    def __repr__(self) -> str:
        return "SERVICE_ACCOUNT"


# Pass as `token=` to act as odh-core's own service account. Deliberately not None: a missing
# user token must never silently become the service account.
SERVICE_ACCOUNT: Any = _ServiceAccount()


class KubeError(ApiError):
    """The API server answered an error; `status_body` is its Status object when it sent one."""

    def __init__(self, status: int, message: str, status_body: dict[str, Any] | None = None):
        super().__init__(status, message, extra={"reason": (status_body or {}).get("reason")}
                         if status_body else None)
        self.status_body = status_body


class KubeUnavailable(ApiError):
    def __init__(self, message: str, status: int = 502):
        super().__init__(status, message)


@dataclass
class FileToken:
    """A token file re-read at most once a minute: bound service-account tokens rotate."""

    path: str
    max_age: float = 60.0
    _value: str | None = None
    _read_at: float = 0.0

    def __call__(self) -> str | None:
        now = time.monotonic()
        if self._value is None or now - self._read_at > self.max_age:
            try:
                self._value = Path(self.path).read_text().strip()  # tiny local file
            except OSError:
                log.warning("cannot read token file %s", self.path)
            self._read_at = now
        return self._value


@dataclass
class KubeConnection:
    """Where the API server is and how to reach it.

    Two TLS settings, because two identities use this connection: `ssl` verifies the server
    only (CA, no client certificate) and is what every request made with a *user's* token
    uses; `service_ssl` adds the service identity's client certificate (a kubeconfig user may
    be one) and is used only for requests as `SERVICE_ACCOUNT`. The API server tries x509
    before bearer tokens: a client certificate next to a user's token would make every caller
    act as the certificate's identity.
    """

    host: str
    ssl: ssl.SSLContext | bool = True
    service_ssl: ssl.SSLContext | bool | None = None  # None: same as `ssl`
    token_source: Callable[[], str | None] = lambda: None
    description: str = ""
    sandbox: bool = False
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    verify: bool = True
    default_namespace: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_https(self) -> bool:
        return self.host.startswith("https://")

    def ssl_for(self, token: Any) -> ssl.SSLContext | bool:
        """The TLS context for a request with `token`: the service identity's only for
        `SERVICE_ACCOUNT`, CA-only for anything else."""
        if token is SERVICE_ACCOUNT and self.service_ssl is not None:
            return self.service_ssl
        return self.ssl


def make_ssl_context(ca_file: str | None = None, ca_data: str | None = None,
                     cert_file: str | None = None, key_file: str | None = None,
                     verify: bool = True) -> ssl.SSLContext | bool:
    if not verify:
        return False
    if not (ca_file or ca_data or cert_file):
        return True
    ctx = ssl.create_default_context(cafile=ca_file, cadata=ca_data)
    if cert_file:
        ctx.load_cert_chain(cert_file, keyfile=key_file)
    return ctx


def resolve_connection(cfg: KubernetesConfig, environ: Mapping[str, str] | None = None,
                       in_cluster_dir: Path = IN_CLUSTER_DIR) -> KubeConnection | None:
    """The cluster odh-core talks to, or None when none is configured or found."""
    environ = os.environ if environ is None else environ
    if cfg.host:
        token: Callable[[], str | None]
        if cfg.token is not None:
            secret = cfg.token.get_secret_value()
            token = lambda: secret  # noqa: E731
        elif cfg.token_file:
            token = FileToken(cfg.token_file)
        else:
            token = lambda: None  # noqa: E731
        return KubeConnection(
            host=cfg.host.rstrip("/"), token_source=token, description=f"config ({cfg.host})",
            ssl=make_ssl_context(cfg.ca_file, verify=not cfg.insecure_skip_tls_verify),
            ca_file=cfg.ca_file, verify=not cfg.insecure_skip_tls_verify)
    host, port = environ.get("KUBERNETES_SERVICE_HOST"), environ.get("KUBERNETES_SERVICE_PORT")
    if host and port and (in_cluster_dir / "token").exists():
        if ":" in host:
            host = f"[{host}]"
        ca = str(in_cluster_dir / "ca.crt")
        ns_file = in_cluster_dir / "namespace"
        return KubeConnection(
            host=f"https://{host}:{port}", ssl=make_ssl_context(ca), ca_file=ca,
            token_source=FileToken(str(in_cluster_dir / "token")), description="in-cluster",
            default_namespace=ns_file.read_text().strip() if ns_file.exists() else None)
    kubeconfig = cfg.kubeconfig or environ.get("KUBECONFIG", "").split(os.pathsep)[0] or str(
        Path(environ.get("HOME", "~")).expanduser() / ".kube" / "config")
    if kubeconfig and Path(kubeconfig).expanduser().exists():
        return connection_from_kubeconfig(kubeconfig, cfg.context)
    return None


def connection_from_kubeconfig(path: str, context: str | None = None) -> KubeConnection:
    """Use the `kubernetes` package's loader (exec plugins, certs, tokens) at startup."""
    from kubernetes import config as kconfig
    from kubernetes.client import Configuration

    c = Configuration()
    kconfig.load_kube_config(config_file=path, context=context, client_configuration=c,
                             persist_config=False)
    auth = (c.api_key or {}).get("authorization") or (c.api_key or {}).get("BearerToken")
    token = auth.split(" ", 1)[1] if auth and " " in auth else auth
    ns = None
    try:
        _, active = kconfig.list_kube_config_contexts(config_file=path)
        if context:
            active = next(x for x in kconfig.list_kube_config_contexts(config_file=path)[0]
                          if x["name"] == context)
        ns = active.get("context", {}).get("namespace")
        ctx_name = active.get("name")
    except Exception:  # pragma: no cover - a kubeconfig the loader took but we cannot list
        ctx_name = context
    # The kubeconfig user's credentials (client certificate, token, exec/auth-provider
    # output) are the service identity: the certificate goes only into `service_ssl`, the
    # token only into `token_source`; basic auth (username/password) is never used.
    return KubeConnection(
        host=c.host.rstrip("/"), token_source=lambda: token,
        ssl=make_ssl_context(c.ssl_ca_cert, verify=c.verify_ssl),
        service_ssl=make_ssl_context(c.ssl_ca_cert, cert_file=c.cert_file, key_file=c.key_file,
                                     verify=c.verify_ssl) if c.cert_file else None,
        ca_file=c.ssl_ca_cert, cert_file=c.cert_file, key_file=c.key_file, verify=c.verify_ssl,
        description=f"kubeconfig {path} (context {ctx_name})", default_namespace=ns)


@dataclass
class KubeResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return jsonlib.loads(self.body) if self.body else None

    @property
    def ok(self) -> bool:
        return self.status < 400


# One TLS record: the most a read can decrypt at once anyway.
_TLS_READ_BUFFER = 16 * 1024


def shrink_tls_read_buffer(resp: aiohttp.ClientResponse, size: int = _TLS_READ_BUFFER) -> None:
    """Give the connection under `resp` a `size`-byte TLS read buffer.

    asyncio's TLS layer (sslproto.SSLProtocol, Python 3.11+) allocates a 256 KiB read buffer
    per connection whatever it carries. The API server's connections live long: watches, and
    the keep-alive pool after a burst of requests (a thousand WebSockets arriving at once
    leave dozens idle for a minute): that buffer was most of what an idle WebSocket cost. The
    size is an instance attribute read on every read, so a connection can be given a smaller
    one; a large body takes a few more reads. Attributes of asyncio's implementation: without
    them (another Python, uvloop) nothing changes.
    """
    # A small body is read whole with the headers and its connection already released to the
    # pool (resp.connection is None by now): aiohttp keeps the protocol on the response.
    conn = resp.connection
    handler = conn.protocol if conn is not None else getattr(resp, "_protocol", None)
    proto = getattr(getattr(handler, "transport", None), "_ssl_protocol", None)
    if proto is None or len(getattr(proto, "_ssl_buffer", b"")) <= size:
        return
    proto.max_size = size
    proto._ssl_buffer = bytearray(size)
    proto._ssl_buffer_view = memoryview(proto._ssl_buffer)


class KubeClient:
    """Requests to one API server, as a user (their token) or as the service account."""

    def __init__(self, conn: KubeConnection, sessions: Sessions,
                 connect_timeout: float = 5.0, request_timeout: float = 30.0):
        self.conn = conn
        self.sessions = sessions
        self.connect_timeout = connect_timeout
        self.request_timeout = request_timeout

    @property
    def host(self) -> str:
        return self.conn.host

    @property
    def session(self) -> aiohttp.ClientSession:
        """The pooled session for this API server (ProxyHandler has awaited the aiohttp
        import by the time a subclass asks for it)."""
        return self.sessions.kube

    def url(self, path: str) -> str:
        return self.conn.host + ("" if path.startswith("/") else "/") + path

    def auth_headers(self, token: Any) -> dict[str, str]:
        if token is SERVICE_ACCOUNT:
            token = self.conn.token_source()
        elif not isinstance(token, str) or not token:
            raise ApiError(401, "no user token to act on the cluster with")
        return {"Authorization": f"Bearer {token}"} if token else {}

    def timeout(self, total: float | None = None, read: float | None = None) -> aiohttp.ClientTimeout:
        import aiohttp

        return aiohttp.ClientTimeout(total=total, connect=self.connect_timeout,
                                     sock_connect=self.connect_timeout, sock_read=read)

    @asynccontextmanager
    async def open(self, method: str, path: str, *, token: Any, params: Any = None,
                   data: Any = None, headers: Mapping[str, str] | None = None,
                   timeout: aiohttp.ClientTimeout | None = None
                   ) -> AsyncIterator[aiohttp.ClientResponse]:
        """A streaming request: the caller reads `resp.content` as it arrives."""
        await self.sessions.ready()
        import aiohttp

        hdrs = dict(headers or {})
        hdrs.update(self.auth_headers(token))
        try:
            async with self.session.request(
                    method, self.url(path), params=params, data=data, headers=hdrs,
                    ssl=self.conn.ssl_for(token), timeout=timeout or self.timeout(read=self.request_timeout),
                    allow_redirects=False, auto_decompress=False) as resp:
                shrink_tls_read_buffer(resp)
                yield resp
        except asyncio.TimeoutError as exc:
            raise KubeUnavailable("the Kubernetes API server did not answer in time", 504) from exc
        except aiohttp.ClientConnectionError as exc:
            raise KubeUnavailable(f"the Kubernetes API server is unreachable: "
                                  f"{type(exc).__name__}") from exc

    async def request(self, method: str, path: str, *, token: Any, params: Any = None,
                      json: Any = None, data: Any = None,
                      headers: Mapping[str, str] | None = None,
                      timeout: float | None = None) -> KubeResponse:
        await self.sessions.ready()
        import aiohttp

        hdrs = {"Accept": "application/json", **(headers or {})}
        if json is not None:
            data = jsonlib.dumps(json).encode()
            hdrs.setdefault("Content-Type", "application/json")
        async with self.open(method, path, token=token, params=params, data=data, headers=hdrs,
                             timeout=self.timeout(total=timeout or self.request_timeout)) as resp:
            try:
                body = await resp.read()
            except asyncio.TimeoutError as exc:
                raise KubeUnavailable("the Kubernetes API server did not answer in time",
                                      504) from exc
            except aiohttp.ClientError as exc:
                raise KubeUnavailable(f"the Kubernetes API server broke the connection: "
                                      f"{type(exc).__name__}") from exc
            return KubeResponse(resp.status, resp.headers, body)

    async def json(self, method: str, path: str, *, token: Any, **kwargs: Any) -> Any:
        """Like `request`, but an error status raises KubeError carrying the Status body."""
        resp = await self.request(method, path, token=token, **kwargs)
        if not resp.ok:
            raise kube_error(resp)
        return resp.json()

    async def get(self, path: str, *, token: Any, **kwargs: Any) -> Any:
        return await self.json("GET", path, token=token, **kwargs)

    async def self_subject_review(self, token: str) -> dict[str, Any]:
        """The user behind `token` (authentication.k8s.io/v1 SelfSubjectReview).

        Clusters older than 1.28 (and some OpenShift setups) lack the API: fall back to
        OpenShift's `users/~`.
        """
        resp = await self.request(
            "POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", token=token,
            json={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
        if resp.status in (200, 201):
            return (resp.json().get("status") or {}).get("userInfo") or {}
        if resp.status == 404:
            user = await self.json("GET", "/apis/user.openshift.io/v1/users/~", token=token)
            return {"username": user["metadata"]["name"], "uid": user["metadata"].get("uid", ""),
                    "groups": user.get("groups") or []}
        raise kube_error(resp)

    async def access_review(self, token: Any, *, verb: str, resource: str | None = None,
                            group: str = "", namespace: str | None = None,
                            name: str | None = None, subresource: str | None = None,
                            path: str | None = None) -> bool:
        """SelfSubjectAccessReview with the caller's token; read `status.allowed` (the review is
        answered 201 whether or not it allows)."""
        attrs: dict[str, Any]
        if path is not None:
            spec = {"nonResourceAttributes": {"path": path, "verb": verb}}
        else:
            attrs = {"verb": verb, "group": group, "resource": resource}
            if namespace:
                attrs["namespace"] = namespace
            if name:
                attrs["name"] = name
            if subresource:
                attrs["subresource"] = subresource
            spec = {"resourceAttributes": attrs}
        review = await self.json(
            "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", token=token,
            json={"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                  "spec": spec})
        return bool((review.get("status") or {}).get("allowed"))

    def api_client(self, token: Any):
        """A `kubernetes.aio` ApiClient for typed calls with `token`; close it (async with)."""
        from kubernetes.aio.client import ApiClient, Configuration

        c = Configuration(host=self.conn.host)
        c.api_key = {"authorization": self.auth_headers(token).get("Authorization", "")}
        c.verify_ssl = self.conn.verify
        c.ssl_ca_cert = self.conn.ca_file
        if token is SERVICE_ACCOUNT:  # a user's token never travels with the service's cert
            c.cert_file, c.key_file = self.conn.cert_file, self.conn.key_file
        return ApiClient(configuration=c)


def kube_error(resp: KubeResponse) -> KubeError:
    body: dict[str, Any] | None = None
    try:
        parsed = resp.json()
        if isinstance(parsed, dict) and parsed.get("kind") == "Status":
            body = parsed
    except ValueError:
        pass
    message = (body or {}).get("message") or resp.body[:200].decode("utf-8", "replace").strip() \
        or f"Kubernetes API error {resp.status}"
    return KubeError(resp.status, message, body)
