"""A sandbox Hugging Face Hub: the part of the hub's HTTP API a model importer uses.

Routes (shapes and headers follow huggingface.co as huggingface_hub reads them):

- ``GET /api/models/{org}/{name}[/revision/{rev}]`` model info; ``?blobs=true`` adds
  ``siblings[].blobId/size/lfs{sha256,size,pointerSize}``. Gated repos' info is public, as
  on the real hub; only their files need a granted token.
- ``GET|HEAD /{org}/{name}/resolve/{rev}/{path}``: small files answered directly (ETag = git
  blob id); LFS files answered ``302`` to ``/cdn/{sha256}?...&sig=...`` with ``X-Repo-Commit``,
  ``X-Linked-Size``, ``X-Linked-Etag`` and ``ETag``.
- ``GET|HEAD /cdn/{sha256}``: the bytes, with ``Range`` (206 + ``Content-Range``, 416),
  ``Content-Length``, ``Accept-Ranges: bytes``. Needs a valid signature, ignores
  ``Authorization`` (like a CDN).
- ``GET /api/whoami-v2``.

Errors carry the hub's ``X-Error-Code`` (``RepoNotFound``, ``GatedRepo``,
``RevisionNotFound``, ``EntryNotFound``) and ``X-Error-Message`` headers and an
``{"error": ...}`` body. Without a token a missing or private repo is 401, with a token 404;
a gated file is 401 without a token and 403 with a token that was not granted. A token that is
present but unknown (including an empty ``Bearer ``) is 401 on every API/resolve route.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import mimetypes
import re
import secrets
import socket
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

import tornado.httpserver
import tornado.iostream
import tornado.netutil
import tornado.web

from .content import BLOCK, FileSource, as_source
from .faults import Faults
from .repos import (
    DEFAULT_LFS_PATTERNS,
    DEFAULT_LFS_THRESHOLD,
    Commit,
    Entry,
    Gated,
    Repo,
    commit_sha,
    compute_sha256,
    is_lfs,
    iso,
    make_entry,
)

_RANGE_RE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)
_REPO_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass
class RequestRecord:
    """One request as the hub saw it. ``headers`` has Authorization's value redacted."""

    method: str
    path: str
    query: str
    phase: str
    headers: dict[str, str]
    has_authorization: bool
    user: str | None
    status: int | None = None  # set when the response is finished
    dropped: bool = False  # the connection was cut by a drop fault
    bytes_sent: int = 0  # body bytes handed to the socket (what a client re-downloads)


@dataclass(frozen=True)
class Token:
    token: str
    user: str
    display_name: str
    role: str = "read"


@dataclass
class _Stopping:
    """Lets fault sleeps end early when the hub stops (so stop() never waits on a delay)."""

    event: asyncio.Event = field(default_factory=asyncio.Event)

    async def sleep(self, seconds: float) -> bool:
        """Sleep; True if the hub is stopping."""
        if seconds <= 0:
            return self.event.is_set()
        try:
            await asyncio.wait_for(self.event.wait(), timeout=seconds)
        except TimeoutError:
            return False
        return True


def parse_range(header: str | None, size: int) -> tuple[int, int] | None | str:
    """``(start, end_exclusive)`` for a single satisfiable range, None for no/ignored range,
    ``"invalid"`` for an unsatisfiable one (416)."""
    if not header:
        return None
    match = _RANGE_RE.match(header)
    if not match:
        return None  # multiple or malformed ranges: serve the whole file (RFC 9110 allows it)
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:
        suffix = int(last)
        if suffix == 0:
            return "invalid"
        return max(0, size - suffix), size
    start = int(first)
    end = size if not last else min(int(last) + 1, size)
    if start >= size or start >= end:
        return "invalid"
    return start, end


class _HubHandler(tornado.web.RequestHandler):
    phase = "api"
    hub: SandboxHub

    def initialize(self, hub: SandboxHub) -> None:
        self.hub = hub
        self._record: RequestRecord | None = None

    def compute_etag(self) -> str | None:
        return None  # the hub sets its own ETags; no tornado-computed body hashes

    def set_default_headers(self) -> None:
        self.set_header("X-Request-Id", "Root=1-" + uuid.uuid4().hex[:24])

    def targets(self) -> list[str]:
        return [self.request.path]

    async def prepare(self) -> None:
        auth = self.request.headers.get("Authorization")
        self.token_present = auth is not None
        self.token = self.hub._token_for(auth)
        self.user = self.token.user if self.token else None
        headers = {k: ("<redacted>" if k.lower() == "authorization" else v)
                   for k, v in self.request.headers.get_all()}
        self._record = RequestRecord(
            method=self.request.method or "", path=self.request.path,
            query=self.request.query, phase=self.phase, headers=headers,
            has_authorization=auth is not None, user=self.user)
        self.hub._log_request(self._record)

        targets = self.targets()
        slow = self.hub.faults.take("slow", self.phase, targets)
        self.throttle = slow.bytes_per_second if slow else None
        if slow and slow.delay and await self.hub._stopping.sleep(slow.delay):
            raise tornado.web.HTTPError(503)
        error = self.hub.faults.take("error", self.phase, targets)
        if error is not None:
            self.fail(error.status, f"Sandbox fault: injected HTTP {error.status}")

    def on_finish(self) -> None:
        if self._record is not None:
            self._record.status = self.get_status()

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.finish({"error": self._reason})

    def fail(self, status: int, message: str, code: str | None = None) -> None:
        self.set_status(status)
        if code:
            self.set_header("X-Error-Code", code)
        self.set_header("X-Error-Message", message)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish({"error": message})

    # -- shared access checks ------------------------------------------------------------------

    def check_token(self) -> bool:
        """A present Authorization header must carry a known token (the hub rejects others)."""
        if self.token_present and self.token is None:
            self.fail(401, "Invalid credentials in Authorization header")
            return False
        return True

    def find_repo(self, repo_id: str) -> Repo | None:
        """The repo if the caller may see it exists; otherwise answers like the hub does."""
        repo = self.hub._get_repo(repo_id)
        if repo is None or (repo.private and not repo.can_read(self.user)):
            message = "Repository not found"
            self.fail(401 if self.user is None else 404, message, "RepoNotFound")
            return None
        return repo

    def find_commit(self, repo: Repo, revision: str) -> Commit | None:
        commit = repo.commit_for(revision)
        if commit is None:
            self.fail(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return commit

    # -- streaming bytes with Range and faults -------------------------------------------------
    def _count(self, n: int) -> None:
        if self._record is not None:
            self._record.bytes_sent += n


    async def send_bytes(self, entry: Entry, target: str) -> None:
        size = entry.size
        rng = parse_range(self.request.headers.get("Range"), size)
        if rng == "invalid":
            self.set_status(416)
            self.set_header("Content-Range", f"bytes */{size}")
            self.finish()
            return
        self.set_header("Accept-Ranges", "bytes")
        if isinstance(rng, tuple):
            start, end = rng
            self.set_status(206)
            self.set_header("Content-Range", f"bytes {start}-{end - 1}/{size}")
        else:
            start, end = 0, size
        length = end - start
        self.set_header("Content-Length", str(length))
        if self.request.method == "HEAD":
            self.finish()
            return
        drop = self.hub.faults.take("drop", self.phase, [self.request.path, target],
                                    body_length=length)
        limit = drop.nbytes if drop is not None else None
        corrupt = self.hub.faults.take("corrupt", self.phase, [self.request.path, target],
                                       body_length=length)
        flip_at = corrupt.nbytes if corrupt is not None else None
        chunk_size = BLOCK
        if self.throttle:
            # Small chunks keep a throttled stream smooth instead of bursty.
            chunk_size = max(1024, min(BLOCK, int(self.throttle / 10)))
        sent = 0
        try:
            for chunk in entry.source.iter_bytes(start, end, chunk_size):
                if flip_at is not None and sent <= flip_at < sent + len(chunk):
                    i = flip_at - sent
                    chunk = chunk[:i] + bytes([chunk[i] ^ 0xFF]) + chunk[i + 1:]
                if limit is not None and sent + len(chunk) >= limit:
                    self.write(chunk[:limit - sent])
                    self._count(limit - sent)
                    await self.flush()
                    self.hub._dropped(self.request.path)
                    if self._record is not None:
                        self._record.dropped = True
                    # Cut the connection with the Content-Length unfulfilled: the client sees
                    # a truncated body, as when a CDN connection resets mid-file.
                    self.request.connection.close()  # type: ignore[union-attr]
                    return
                self.write(chunk)
                self._count(len(chunk))
                await self.flush()  # bounded memory: wait for the socket to take the chunk
                sent += len(chunk)
                if self.throttle and await self.hub._stopping.sleep(len(chunk) / self.throttle):
                    self.request.connection.close()  # type: ignore[union-attr]
                    return
        except tornado.iostream.StreamClosedError:
            return  # the client went away; nothing left to do
        self.finish()


class ModelInfoHandler(_HubHandler):
    phase = "api"

    def targets(self) -> list[str]:
        return [self.request.path, "/".join(self.path_args[:2])]

    def get(self, org: str, name: str, revision: str | None = None) -> None:
        if not self.check_token():
            return
        repo = self.find_repo(f"{org}/{name}")
        if repo is None:
            return
        commit = self.find_commit(repo, revision or "main")
        if commit is None:
            return
        blobs = self.get_query_argument("blobs", "false").lower() in ("1", "true")
        entries = sorted(commit.files.values(), key=lambda e: e.path)
        info: dict[str, Any] = {
            "_id": repo.object_id,
            "id": repo.repo_id,
            "modelId": repo.repo_id,
            "author": repo.owner,
            "sha": commit.sha,
            "lastModified": iso(commit.last_modified),
            "createdAt": iso(repo.created_at),
            "private": repo.private,
            "gated": repo.gated,
            "disabled": False,
            "downloads": 0,
            "likes": 0,
            "tags": [],
            "library_name": None,
            "siblings": [e.sibling(blobs) for e in entries],
            "spaces": [],
        }
        if blobs:
            info["usedStorage"] = sum(e.size for e in entries)
        self.finish(info)


class ResolveHandler(_HubHandler):
    phase = "resolve"

    def targets(self) -> list[str]:
        org, name, _rev, path = self.path_args
        return [self.request.path, f"{org}/{name}/{path}"]

    async def head(self, org: str, name: str, revision: str, path: str) -> None:
        await self.get(org, name, revision, path)

    async def get(self, org: str, name: str, revision: str, path: str) -> None:
        if not self.check_token():
            return
        repo = self.find_repo(f"{org}/{name}")
        if repo is None:
            return
        if repo.gated and not repo.can_read(self.user):
            kind = "model"
            if self.user is None:
                self.fail(401, f"Access to {kind} {repo.repo_id} is restricted. You must have "
                               "access to it and be authenticated to access it. Please log in.",
                          "GatedRepo")
            else:
                self.fail(403, f"Access to {kind} {repo.repo_id} is restricted and you are not "
                               f"in the authorized list. Visit {self.hub.endpoint}/"
                               f"{repo.repo_id} to ask for access.", "GatedRepo")
            return
        commit = self.find_commit(repo, revision)
        if commit is None:
            return
        entry = commit.files.get(path)
        if entry is None:
            self.fail(404, "Entry not found", "EntryNotFound")
            return
        self.set_header("X-Repo-Commit", commit.sha)
        self.set_header("Access-Control-Expose-Headers",
                        "X-Repo-Commit,X-Request-Id,X-Error-Code,X-Error-Message,"
                        "X-Total-Count,ETag,Link,Accept-Ranges,Content-Range,"
                        "X-Linked-Size,X-Linked-ETag,X-Xet-Hash")
        if entry.lfs:
            etag = f'"{entry.sha256}"'
            self.set_status(302)
            self.set_header("X-Linked-Size", str(entry.size))
            self.set_header("X-Linked-Etag", etag)
            self.set_header("ETag", etag)
            location = self.hub._cdn_url(self.request, repo.repo_id, commit.sha, entry)
            self.set_header("Location", location)
            self.set_header("Content-Type", "text/plain; charset=utf-8")
            body = f"Found. Redirecting to {location}".encode()
            if self.request.method == "HEAD":
                self.set_header("Content-Length", str(len(body)))
                self.finish()
            else:
                self.finish(body)
            return
        self.set_header("ETag", f'"{entry.blob_id}"')
        content_type = mimetypes.guess_type(entry.path)[0] or "application/octet-stream"
        self.set_header("Content-Type", content_type)
        await self.send_bytes(entry, f"{repo.repo_id}/{entry.path}")


class CdnHandler(_HubHandler):
    phase = "cdn"

    def targets(self) -> list[str]:
        repo = self.get_query_argument("repo", "")
        path = self.get_query_argument("path", "")
        return [self.request.path, f"{repo}/{path}"]

    async def head(self, sha256: str) -> None:
        await self.get(sha256)

    async def get(self, sha256: str) -> None:
        repo_id = self.get_query_argument("repo", "")
        path = self.get_query_argument("path", "")
        sig = self.get_query_argument("sig", "")
        if not hmac.compare_digest(sig, self.hub._sign(sha256, repo_id, path)):
            self.set_status(403)
            self.set_header("Content-Type", "application/xml")
            self.finish("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied"
                        "</Code><Message>Access denied</Message></Error>")
            return
        entry = self.hub._blob(sha256)
        if entry is None:
            self.set_status(404)
            self.finish("<Error><Code>NoSuchKey</Code></Error>")
            return
        filename = entry.path.rsplit("/", 1)[-1]
        self.set_header("Content-Type", "application/octet-stream")
        self.set_header("Content-Disposition",
                        f"inline; filename*=UTF-8''{quote(filename)}; filename=\"{filename}\"")
        self.set_header("ETag", f'"{sha256}"')
        await self.send_bytes(entry, f"{repo_id}/{path}")


class WhoamiHandler(_HubHandler):
    phase = "whoami"

    def get(self) -> None:
        if self.token is None:
            self.fail(401, "Invalid credentials in Authorization header")
            return
        tok = self.token
        self.finish({
            "type": "user",
            "id": hashlib.sha1(tok.user.encode()).hexdigest()[:24],
            "name": tok.user,
            "fullname": tok.user,
            "email": f"{tok.user}@sandbox.invalid",
            "emailVerified": True,
            "canPay": False,
            "isPro": False,
            "periodEnd": None,
            "avatarUrl": "",
            "orgs": [],
            "auth": {
                "type": "access_token",
                "accessToken": {
                    "displayName": tok.display_name,
                    "role": tok.role,
                    "createdAt": "2024-01-01T00:00:00.000Z",
                },
            },
        })


class _NotFoundHandler(_HubHandler):
    def prepare(self) -> None:  # type: ignore[override]
        self.fail(404, "Sorry, we can't find the page you are looking for.")


class SandboxHub:
    """A Hugging Face Hub stand-in. Configuration methods are safe from any thread."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0,
                 tokens: Mapping[str, str] | None = None, cdn_host: str | None = None) -> None:
        """``tokens`` maps token -> user name. ``cdn_host`` puts CDN URLs on another host name
        for this server (e.g. "localhost" when serving on 127.0.0.1), making the redirect
        cross-origin so clients drop Authorization as they would for the real CDN."""
        self.host = host
        self.port = port
        self.cdn_host = cdn_host
        self.faults = Faults()
        self._lock = threading.RLock()
        self._repos: dict[str, Repo] = {}
        self._blobs: dict[str, Entry] = {}  # sha256 -> entry (content-addressed CDN)
        self._sha_cache: dict[tuple[Any, ...], str] = {}
        self._tokens: dict[str, Token] = {}
        self._requests: list[RequestRecord] = []
        self._drops: list[str] = []
        self._secret = secrets.token_bytes(32)
        self._server: tornado.httpserver.HTTPServer | None = None
        self._stopping = _Stopping()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        for token, user in (tokens or {}).items():
            self.add_token(token, user)

    # -- configuration -------------------------------------------------------------------------

    def add_token(self, token: str, user: str, *, display_name: str | None = None,
                  role: str = "read") -> None:
        with self._lock:
            self._tokens[token] = Token(token, user, display_name or f"{user}-sandbox-token",
                                        role)

    def add_model(self, repo_id: str, files: Mapping[str, FileSource | bytes | str], *,
                  gated: bool | Gated = False, private: bool = False,
                  allowed_users: Iterable[str] = (), revision: str = "main",
                  lfs_threshold: int = DEFAULT_LFS_THRESHOLD,
                  lfs_patterns: tuple[str, ...] = DEFAULT_LFS_PATTERNS) -> str:
        """Add (or replace) ``revision`` of a model; returns its commit sha.

        Hashes every file by streaming it once (a 200 MiB generated file takes about a
        second), so call it before serving or from a thread other than the hub's loop.
        Calling again for the same repo adds or replaces a ref and updates the flags.
        """
        if not _REPO_ID_RE.match(repo_id):
            raise ValueError(f"repo id must look like 'org/name', got {repo_id!r}")
        entries: dict[str, Entry] = {}
        for path, value in files.items():
            source = as_source(value)
            with self._lock:
                cache = dict(self._sha_cache)
            sha = compute_sha256(source, cache)
            lfs = is_lfs(path, source, lfs_threshold, lfs_patterns)
            entries[path] = make_entry(path.lstrip("/"), source, lfs, sha)
            with self._lock:
                self._sha_cache.update(cache)
        commit = Commit(sha=commit_sha(repo_id, revision, entries), files=entries,
                        last_modified=datetime.now(timezone.utc))
        gated_value: Gated = "manual" if gated is True else gated
        with self._lock:
            repo = self._repos.get(repo_id)
            if repo is None:
                repo = Repo(repo_id, object_id=hashlib.sha1(repo_id.encode()).hexdigest()[:24])
                self._repos[repo_id] = repo
            repo.private = private
            repo.gated = gated_value
            repo.allowed_users.update(allowed_users)
            repo.refs[revision] = commit
            for entry in entries.values():
                if entry.lfs:
                    self._blobs[entry.sha256] = entry
        return commit.sha

    def grant(self, repo_id: str, user: str) -> None:
        """Give ``user`` access to a gated or private repo."""
        with self._lock:
            self._repos[repo_id].allowed_users.add(user)

    def revoke(self, repo_id: str, user: str) -> None:
        with self._lock:
            self._repos[repo_id].allowed_users.discard(user)

    def remove_model(self, repo_id: str) -> None:
        with self._lock:
            self._repos.pop(repo_id, None)

    # -- helpers for tests ---------------------------------------------------------------------

    def _entry(self, repo_id: str, path: str, revision: str = "main") -> Entry:
        with self._lock:
            repo = self._repos[repo_id]
            commit = repo.commit_for(revision)
        if commit is None:
            raise KeyError(f"{repo_id} has no revision {revision!r}")
        return commit.files[path]

    def commit_sha(self, repo_id: str, revision: str = "main") -> str:
        with self._lock:
            commit = self._repos[repo_id].commit_for(revision)
        if commit is None:
            raise KeyError(f"{repo_id} has no revision {revision!r}")
        return commit.sha

    def expected_sha256(self, repo_id: str, path: str, revision: str = "main") -> str:
        return self._entry(repo_id, path, revision).sha256

    def file_size(self, repo_id: str, path: str, revision: str = "main") -> int:
        return self._entry(repo_id, path, revision).size

    def file_bytes_iter(self, repo_id: str, path: str, revision: str = "main", *,
                        start: int = 0, end: int | None = None,
                        chunk: int = 1024 * 1024) -> Iterator[bytes]:
        """The file's exact bytes ``[start, end)``, streamed (compare with what landed)."""
        return self._entry(repo_id, path, revision).source.iter_bytes(start, end, chunk)

    def file_bytes(self, repo_id: str, path: str, revision: str = "main", *,
                   start: int = 0, end: int | None = None) -> bytes:
        """Small files or ranges only: this holds the bytes in memory."""
        return b"".join(self.file_bytes_iter(repo_id, path, revision, start=start, end=end))

    @property
    def requests(self) -> list[RequestRecord]:
        """A snapshot of the request log, oldest first."""
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    @property
    def drops(self) -> list[str]:
        """Paths of responses cut off by a drop fault, in order."""
        with self._lock:
            return list(self._drops)

    # -- internals used by handlers ------------------------------------------------------------

    def _token_for(self, authorization: str | None) -> Token | None:
        if not authorization:
            return None
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            return None
        with self._lock:
            return self._tokens.get(value.strip())

    def _get_repo(self, repo_id: str) -> Repo | None:
        with self._lock:
            return self._repos.get(repo_id)

    def _blob(self, sha256: str) -> Entry | None:
        with self._lock:
            return self._blobs.get(sha256)

    def _log_request(self, record: RequestRecord) -> None:
        with self._lock:
            self._requests.append(record)

    def _dropped(self, path: str) -> None:
        with self._lock:
            self._drops.append(path)

    def _sign(self, sha256: str, repo_id: str, path: str) -> str:
        msg = f"{sha256}\0{repo_id}\0{path}".encode()
        return hmac.new(self._secret, msg, hashlib.sha256).hexdigest()

    def _cdn_url(self, request: Any, repo_id: str, commit: str, entry: Entry) -> str:
        host = request.host
        if self.cdn_host:
            host = f"{self.cdn_host}:{self.port}"
        query = (f"repo={quote(repo_id, safe='')}&path={quote(entry.path, safe='')}"
                 f"&rev={commit}&sig={self._sign(entry.sha256, repo_id, entry.path)}")
        return f"{request.protocol}://{host}/cdn/{entry.sha256}?{query}"

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        if not self.port:
            raise RuntimeError("SandboxHub is not started")
        return f"http://{self.host}:{self.port}"

    def make_app(self) -> tornado.web.Application:
        kw = {"hub": self}
        return tornado.web.Application(
            [
                (r"/api/whoami-v2", WhoamiHandler, kw),
                (r"/api/models/([^/]+)/([^/]+)/revision/(.+)", ModelInfoHandler, kw),
                (r"/api/models/([^/]+)/([^/]+)", ModelInfoHandler, kw),
                (r"/cdn/([0-9a-f]{64})", CdnHandler, kw),
                (r"/([^/]+)/([^/]+)/resolve/([^/]+)/(.+)", ResolveHandler, kw),
            ],
            default_handler_class=_NotFoundHandler,
            default_handler_args=kw,
            # No per-request access log lines: tests and sandbox users read `requests`.
            log_function=lambda handler: None,
        )

    async def start(self) -> SandboxHub:
        """Listen on the current event loop; returns self once the socket is bound."""
        if self._server is not None:
            raise RuntimeError("SandboxHub already started")
        sockets = tornado.netutil.bind_sockets(self.port, self.host, family=socket.AF_INET
                                               if ":" not in self.host else socket.AF_UNSPEC)
        self.port = int(sockets[0].getsockname()[1])
        self._stopping = _Stopping()
        server = tornado.httpserver.HTTPServer(self.make_app(), max_buffer_size=1024 * 1024)
        server.add_sockets(sockets)
        self._server = server
        return self

    async def stop(self) -> None:
        """Stop listening and close open connections (in-flight downloads are cut)."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.event.set()
        server.stop()
        await server.close_all_connections()

    def start_in_thread(self) -> SandboxHub:
        """Run the hub on its own event loop in a daemon thread (session fixtures)."""
        if self._thread is not None:
            raise RuntimeError("SandboxHub already running in a thread")
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            try:
                loop.run_until_complete(self.start())
            except BaseException as exc:  # surfaced to the caller below
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                pending = asyncio.all_tasks(loop)
                for task in pending:
                    task.cancel()
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._thread = threading.Thread(target=run, name="sandbox-hub", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread.join()
            self._thread = None
            raise failure[0]
        return self

    def stop_thread(self) -> None:
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        asyncio.run_coroutine_threadsafe(self.stop(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        self._thread = None
        self._loop = None
