"""Outbound access to the Hugging Face Hub: model info, whoami, file downloads with Range.

Only the configured endpoint is ever asked directly; URLs are built from it and validated,
percent-encoded pieces (see `validate`). Redirects are followed by hand so that
- only http(s) redirect targets are followed, at most `max_redirects` hops;
- the token (`Authorization`) goes only to the endpoint's own origin, never to the CDN host a
  redirect points at (the CDN URL is signed; it needs no token);
- no `Authorization` header at all when no token is configured (public models work without).
The proxy (honouring NO_PROXY) and the CA bundle apply to every hop.
"""
from __future__ import annotations

import asyncio
import importlib
import os
import ssl
import urllib.request
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, AsyncIterator
from urllib.parse import quote, urljoin, urlsplit

from odh_core import ApiError

from . import validate

if TYPE_CHECKING:  # pragma: no cover
    import aiohttp

_REDIRECTS = {301, 302, 303, 307, 308}


class HubError(ApiError):
    """A hub answer that is final for this file or model (no retry helps)."""


class HubRetryable(Exception):
    """A transient failure: 5xx, 429, a cut or stalled connection."""


@dataclass(frozen=True)
class HubFile:
    path: str
    size: int
    sha256: str | None  # LFS files: the hub's content hash; None for small git files
    lfs: bool


@dataclass
class ModelInfo:
    repo: str
    revision: str
    sha: str  # the commit the revision points at: downloads pin it
    gated: Any
    private: bool
    files: list[HubFile] = field(default_factory=list)


@dataclass(frozen=True)
class HubSettings:
    endpoint: str
    http_proxy: str = ""
    https_proxy: str = ""
    no_proxy: str = ""
    ca_bundle: str | None = None
    verify: bool = True
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    max_redirects: int = 5


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), port


class HubClient:
    """One aiohttp session for the hub (own connector: CA bundle, no env surprises)."""

    def __init__(self, settings: HubSettings):
        endpoint = settings.endpoint.rstrip("/")
        if urlsplit(endpoint).scheme not in ("http", "https") or not urlsplit(endpoint).hostname:
            raise ValueError(f"the hub endpoint must be an http(s) URL, got {endpoint!r}")
        self.settings = settings
        self.endpoint = endpoint
        self._origin = _origin(endpoint)
        if settings.verify and settings.ca_bundle and not os.path.isfile(settings.ca_bundle):
            raise ValueError(f"the hub's CA bundle {settings.ca_bundle!r} is not a file")
        self._started = False
        # The session, made on the first call (shared by concurrent first calls).
        self._session: asyncio.Future[aiohttp.ClientSession] | None = None

    async def start(self) -> None:
        """Ready for use; the session (and the CA bundle it trusts, a tenth of a second to
        parse) is made on the first call, off the loop, not at the server's start."""
        self._started = True

    async def close(self) -> None:
        self._started = False
        opening, self._session = self._session, None
        if opening is not None:
            try:
                await (await opening).close()
            except (OSError, ValueError):
                pass  # it never opened (see session())

    async def session(self) -> aiohttp.ClientSession:
        if not self._started:
            raise RuntimeError("the hub client is not started")
        if self._session is None:
            self._session = asyncio.ensure_future(self._open_session())
        try:
            return await asyncio.shield(self._session)
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            self._session = None  # the next call tries again (a fixed bundle, say)
            raise HubError(503, "the hub's CA bundle cannot be loaded: "
                                f"{type(exc).__name__}") from None

    async def _open_session(self) -> aiohttp.ClientSession:
        def tls() -> ssl.SSLContext | bool:
            importlib.import_module("aiohttp")
            if not self.settings.verify:
                return False
            if self.settings.ca_bundle:
                return ssl.create_default_context(cafile=self.settings.ca_bundle)
            return True

        ssl_ctx = await asyncio.to_thread(tls)
        import aiohttp

        return aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, ssl=ssl_ctx, keepalive_timeout=30),
            auto_decompress=False, trust_env=False)

    # -- plumbing -----------------------------------------------------------------------------
    def _proxy(self, url: str) -> str | None:
        scheme, host, _ = _origin(url)
        proxy = self.settings.https_proxy if scheme == "https" else self.settings.http_proxy
        if not proxy:
            return None
        if self.settings.no_proxy and urllib.request.proxy_bypass_environment(
                host, {"no": self.settings.no_proxy}):
            return None
        return proxy

    @asynccontextmanager
    async def open(self, url: str, *, token: str | None, headers: dict[str, str] | None = None,
                   method: str = "GET", read_timeout: float | None = None
                   ) -> AsyncIterator[aiohttp.ClientResponse]:
        """GET `url` (on the endpoint), following redirects by hand; yields the final response.

        Network errors and 5xx/429 raise `HubRetryable`; other statuses are the caller's.
        """
        import aiohttp

        if _origin(url) != self._origin:  # defence in depth: callers build from endpoint
            raise ValueError("refusing a URL outside the configured hub endpoint")
        timeout = aiohttp.ClientTimeout(total=None, connect=self.settings.connect_timeout,
                                        sock_connect=self.settings.connect_timeout,
                                        sock_read=read_timeout or self.settings.read_timeout)
        hops = 0
        while True:
            hdrs = dict(headers or {})
            if token and _origin(url) == self._origin:
                hdrs["Authorization"] = f"Bearer {token}"
            try:
                resp = await (await self.session()).request(method, url, headers=hdrs,
                                                  allow_redirects=False, timeout=timeout,
                                                  proxy=self._proxy(url))
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                raise HubRetryable(f"hub unreachable: {type(exc).__name__}") from exc
            try:
                if resp.status in _REDIRECTS:
                    location = resp.headers.get("Location", "")
                    nxt = urljoin(url, location)
                    if not location or urlsplit(nxt).scheme not in ("http", "https"):
                        raise HubError(502, "the hub redirected to an unusable location")
                    hops += 1
                    if hops > self.settings.max_redirects:
                        raise HubError(502, "the hub redirected too many times")
                    url = nxt
                    continue
                if resp.status >= 500 or resp.status == 429:
                    raise HubRetryable(f"hub answered HTTP {resp.status}")
                yield resp
                return
            finally:
                resp.release()

    def url(self, *segments: str, query: str = "") -> str:
        return self.endpoint + "/" + "/".join(segments) + (f"?{query}" if query else "")

    @staticmethod
    async def _error_message(resp: aiohttp.ClientResponse) -> str:
        import aiohttp

        msg = resp.headers.get("X-Error-Message", "")
        if not msg:
            try:
                body = await resp.content.read(4096)
                msg = body.decode("utf-8", "replace").strip()
            except aiohttp.ClientError:
                msg = ""
        return msg[:500]

    # -- API ----------------------------------------------------------------------------------
    async def model_info(self, repo: str, revision: str, token: str | None) -> ModelInfo:
        org, name = validate.repo_id(repo).split("/")
        rev = validate.revision(revision)
        url = self.url("api", "models", quote(org, safe=""), quote(name, safe=""), "revision",
                       quote(rev, safe=""), query="blobs=true")
        try:
            async with self.open(url, token=token, read_timeout=30) as resp:
                if resp.status == 200:
                    data = await resp.json(content_type=None)
                else:
                    raise self.access_error(resp.status, resp.headers.get("X-Error-Code", ""),
                                            await self._error_message(resp), repo, revision,
                                            token)
        except HubRetryable as exc:
            raise ApiError(502, f"Hugging Face hub at {self.endpoint}: {exc}") from None
        files = []
        for s in data.get("siblings") or []:
            path = s.get("rfilename", "")
            if not isinstance(path, str) or not validate.repo_path(path):
                continue  # a name we could not safely put in a URL or key: never fetched
            lfs = s.get("lfs") or None
            size = (lfs or {}).get("size", s.get("size"))
            if not isinstance(size, int) or size < 0:
                raise ApiError(502, f"the hub gave no size for {path!r}")
            sha = (lfs or {}).get("sha256")
            files.append(HubFile(path, size, sha if isinstance(sha, str) and len(sha) == 64
                                 else None, bool(lfs)))
        sha = data.get("sha")
        if not isinstance(sha, str) or not validate.REVISION_RE.match(sha):
            sha = rev
        return ModelInfo(repo, rev, sha, data.get("gated") or False, bool(data.get("private")),
                         files)

    def access_error(self, status: int, code: str, message: str, repo: str, revision: str,
                     token: str | None) -> ApiError:
        """The hub's refusal as a clear error that says what to do."""
        page = f"{self.endpoint}/{repo}"
        if code == "GatedRepo" or (status in (401, 403) and "restricted" in message.lower()):
            if not token:
                return HubError(401, f"{repo} is a gated model: set a Hugging Face token of an "
                                f"account that was granted access (PUT /api/settings/huggingface "
                                f"or HF_TOKEN) and accept its conditions at {page}")
            return HubError(403, f"{repo} is a gated model and the configured Hugging Face "
                            f"token's account has not been granted access: request access at "
                            f"{page}, or set a token of an account that has it")
        if code == "RevisionNotFound":
            return HubError(404, f"{repo} has no revision {revision!r}")
        if code == "EntryNotFound":
            return HubError(404, f"{repo}: file not found at revision {revision!r}")
        if status == 401:
            if token:
                return HubError(401, "the Hugging Face token was rejected by the hub: set a "
                                "valid one (PUT /api/settings/huggingface or HF_TOKEN)")
            return HubError(401, f"{repo} was not found or is private: set a Hugging Face "
                            f"token with access to it (PUT /api/settings/huggingface or "
                            f"HF_TOKEN)")
        if status == 403:
            return HubError(403, f"the Hugging Face token has no access to {repo}"
                            + (f": {message}" if message else ""))
        if status == 404:
            return HubError(404, f"{repo} was not found on {self.endpoint}"
                            + (" (or the configured token cannot see it)" if token else ""))
        return HubError(502, f"the hub answered HTTP {status} for {repo}"
                        + (f": {message}" if message else ""))

    async def check_file_access(self, info: ModelInfo, path: str, token: str | None) -> None:
        """HEAD one file (no redirect hop needed) to fail fast on gated access."""
        url = self.file_url(info, path)
        try:
            async with self.open(url, token=token, method="HEAD", read_timeout=30) as resp:
                # A redirect to the CDN means access is granted; open() stops at the final
                # answer, so only refusals are left to map.
                if resp.status >= 400:
                    raise self.access_error(resp.status, resp.headers.get("X-Error-Code", ""),
                                            resp.headers.get("X-Error-Message", ""), info.repo,
                                            info.revision, token)
        except HubRetryable as exc:
            raise ApiError(502, f"Hugging Face hub at {self.endpoint}: {exc}") from None

    def file_url(self, info: ModelInfo, path: str) -> str:
        org, name = info.repo.split("/")
        return self.url(quote(org, safe=""), quote(name, safe=""), "resolve",
                        quote(info.sha, safe=""), quote(path, safe="/"))

    async def whoami(self, token: str) -> dict[str, Any]:
        try:
            async with self.open(self.url("api", "whoami-v2"), token=token,
                                 read_timeout=30) as resp:
                if resp.status == 200:
                    return await resp.json(content_type=None)
                if resp.status in (401, 403):
                    raise ApiError(401, "the Hugging Face hub rejected the token")
                raise ApiError(502, f"the hub answered HTTP {resp.status}")
        except HubRetryable as exc:
            raise ApiError(502, f"Hugging Face hub at {self.endpoint}: {exc}") from None
