"""The S3 access the s3 plugin publishes as `app.service("s3.access")`: one *source* per request.

A request acts on exactly one S3 source (ids as `GET /api/s3/sources` lists them):
  `shared`            the S3 admins configure (env, YAML, admin settings): admins and members
                      of `plugins.s3.shared_groups` only
  `user`              the caller's own S3 settings (PUT /api/settings/s3 by a non-admin), in a
                      Secret of odh-core's namespace named by a hash of the username
  `conn:<ns>/<name>`  a dashboard S3 connection Secret, read with the caller's own token (the
                      cluster's RBAC decides; the service account never reads it for them)

Interface for other plugins (they never import `odh_s3`):

    access = app.service("s3.access")          # None when the s3 plugin is not enabled
    src = await access.resolve(handler, source=None)
        # the SourceAccess of `handler`'s caller: `source` if given, else the request's
        # `?source=`, else the caller's current source (PUT /api/s3/source), else their own
        # settings, else `shared` when they may use it. ApiError 403 `NoS3Source` (saying what
        # to do) when nothing is usable; 403/404 when the named source is not theirs.
    src.source_id -> str                        # "shared" | "user" | "conn:<ns>/<name>"
    src.owner -> str                            # the user it was resolved for ("" detached)
    src.connection -> S3Connection              # connection.py: endpoint, access_key_id,
                                                # secret_access_key, region, default_bucket
    src.default_bucket -> str / src.configured -> bool
    src.check_bucket(bucket)                    # 400 invalid name; 403 when a connection
                                                # source is scoped to another bucket
    client = await src.client()                 # the pooled aiobotocore client (one call)
    async with src.lease() as client: ...       # kept open for a long operation even if the
                                                # source's credentials change meanwhile
    await src.ready()                           # opens (or reuses) the pooled client; done by
                                                # resolve(), needed once after for_connection()
    writer = src.multipart_writer(bucket, key, expected_size=None, content_type=None,
                                  metadata=None, max_in_flight=None)   # sync; leases until done
        await writer.write(chunk) / await writer.complete() -> dict / await writer.abort()
    async with src.transfers.slot(): ...        # one of the owner's transfer slots (their
                                                # maxConcurrentTransfers, bounded by the admin
                                                # maximum) under the server-wide cap
    src.transfers.limit / .active / .busy
    handle = src.transfer_started(kind, key, cancel=None); src.transfer_finished(handle)
                                                # the idle culler (/api/kernels) sees it busy
    src.public() -> dict                        # {id, kind, name, bucket, endpoint}: no keys

    # A background worker (an import running on another replica has no user token): copy
    # `src.connection` at creation time (e.g. into a Secret the ImportJob owns; its fields are
    # S3Connection's: endpoint, access_key_id, secret_access_key, region, default_bucket), then
    # build an access from it (not bucket-scoped: check the bucket at creation time with
    # `src.check_bucket(bucket)`):
    src = access.for_connection(conn, owner="alice", source_id="conn:alice-project/x")
    await src.ready()

    # The per-user settings store both plugins use (one Secret per user):
    store = access.user_store; await store.get(username) / await store.update(username, {...})
    access.may_use_shared(identity, is_admin) -> bool

The old module-level properties (`access.configured`, `.default_bucket`, `.connection`,
`.client()`, `.lease()`, `.multipart_writer()`, `.transfers`, `.transfer_started/finished`)
act on the *shared* source for callers with no user in hand (health check, legacy callers);
anything acting for a user must go through `resolve`. The shared settings are loaded once the
server listens: `resolve` and `.client()` wait for them, the plain properties do not, so read
those after `await access.loaded()`.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import OrderedDict
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, AsyncIterator

from odh_core import ApiError, KubeError

from .clients import ClientPool, PooledClient
from .conn_watch import ConnectionWatches
from .codec import bucket_name_problem
from .connection import S3Connection
from .multipart import DEFAULT_IN_FLIGHT, MultipartWriter
from .sources import (SHARED, USER, SourceRef, connection_from_secret, connection_from_user,
                      endpoint_allowed, endpoint_host, is_s3_connection, parse_source)
from .transfers import SlotView, UserSlots
from .user_store import UserStore

log = logging.getLogger("odh.plugin.s3")
MAX_CACHED_CONNECTIONS = 4096
SOURCE_KEY = "s3.source"  # the user's current source, in their settings Secret
TRANSFERS_KEY = "maxConcurrentTransfers"


class S3NotConfigured(ApiError):
    def __init__(self) -> None:
        super().__init__(503, "S3 is not configured: set the S3 connection (PUT "
                         "/api/settings/s3, env AWS_S3_ENDPOINT / AWS_ACCESS_KEY_ID / "
                         "AWS_SECRET_ACCESS_KEY, or plugins.s3 in the config file)")


class NoS3Source(ApiError):
    def __init__(self, reason: str = "") -> None:
        super().__init__(
            403, (reason + " " if reason else "") + "You have no S3 storage to use here: save "
            "your own S3 settings (Settings > S3 Settings), pick one of your projects' S3 "
            "connections (GET /api/s3/sources, then PUT /api/s3/source), or ask an "
            "administrator for access to the shared S3.", error="NoS3Source")


@dataclass
class Transfer:
    """A running transfer, visible to /api/kernels (busy) and per-user aborts."""

    id: int
    kind: str  # "upload" | "download" | "import"
    key: str
    user: str | None = None
    started: float = field(default_factory=time.time)
    cancel: Any = None  # callable aborting it, or None


class SourceAccess:
    """One resolved source for one owner: its connection, pooled client and transfer slots."""

    def __init__(self, access: "S3Access", source_id: str, conn: S3Connection, owner: str,
                 *, kind: str, name: str = "", preferred_transfers: int | None = None,
                 bucket_scope: str | None = None):
        self._access = access
        self.source_id = source_id
        self.connection = conn
        self.owner = owner
        self.kind = kind
        self.name = name or source_id
        self.bucket_scope = bucket_scope
        self.transfers = SlotView(access.slots, owner, lambda: preferred_transfers)

    @property
    def configured(self) -> bool:
        return self.connection.configured

    @property
    def default_bucket(self) -> str:
        return self.connection.default_bucket

    def public(self) -> dict[str, Any]:
        c = self.connection
        return {"id": self.source_id, "kind": self.kind, "name": self.name,
                "bucket": c.default_bucket, "endpoint": c.endpoint or ""}

    def check_bucket(self, bucket: str) -> None:
        if problem := bucket_name_problem(bucket):
            raise ApiError(400, problem, error="InvalidBucketName")
        if self.bucket_scope and bucket != self.bucket_scope:
            raise ApiError(403, f"the S3 source {self.source_id} gives access to bucket "
                           f"{self.bucket_scope!r} only", error="AccessDenied")

    async def _entry(self) -> PooledClient:
        if not self.connection.configured:
            raise S3NotConfigured()
        return await self._access.pool.get(self.connection)

    async def client(self) -> Any:
        return (await self._entry()).client

    @asynccontextmanager
    async def lease(self) -> AsyncIterator[Any]:
        entry = await self._entry()
        release = entry.acquire()
        try:
            yield entry.client
        finally:
            release()

    def multipart_writer(self, bucket: str, key: str, *, expected_size: int | None = None,
                         content_type: str | None = None,
                         metadata: dict[str, str] | None = None,
                         max_in_flight: int | None = None) -> MultipartWriter:
        """A `MultipartWriter` on this source's client (leased until it completes or aborts).

        Synchronous, like before: the client must exist already (any earlier `client()`,
        `lease()` or `resolve()` made it); raises S3NotConfigured otherwise.
        `max_in_flight` lowers the parts uploading at once for this writer (never above the
        configured `parts_in_flight`).
        """
        entry = self._access.pool.peek(self.connection) if self.connection.configured else None
        if entry is None:
            raise S3NotConfigured()
        release = entry.acquire()
        in_flight = self._access.parts_in_flight if max_in_flight is None else max(
            1, min(max_in_flight, self._access.parts_in_flight))
        return MultipartWriter(entry.client, bucket, key, expected_size=expected_size,
                               content_type=content_type, part_size=self._access.part_size,
                               max_in_flight=in_flight, metadata=metadata,
                               on_release=release)

    async def ready(self) -> "SourceAccess":
        """Make sure the client exists (so `multipart_writer` can be called synchronously)."""
        await self._entry()
        return self

    def transfer_started(self, kind: str, key: str, user: str | None = None,
                         cancel: Any = None) -> Transfer:
        return self._access.transfer_started(kind, key, user or self.owner, cancel)

    def transfer_finished(self, transfer: Transfer) -> None:
        self._access.transfer_finished(transfer)


class S3Access:
    """The shared S3 settings, the client pool, the transfer slots and source resolution."""

    def __init__(self, conn: S3Connection, max_transfers: int, *,
                 parts_in_flight: int = DEFAULT_IN_FLIGHT, part_size: int | None = None,
                 max_clients: int = 64, total_transfers: int = 64,
                 user_store: UserStore | None = None, shared_groups: tuple[str, ...] = (),
                 allowed_endpoints: tuple[str, ...] = (), connection_ttl: float = 10.0,
                 scope_connections: bool = True):
        self._conn = conn
        self.pool = ClientPool(max_clients)
        self.slots = UserSlots(max_transfers, total_transfers)
        self.parts_in_flight = parts_in_flight
        self.part_size = part_size
        self.user_store = user_store or UserStore()
        self.shared_groups = tuple(shared_groups)
        self.allowed_endpoints = tuple(allowed_endpoints)
        self.connection_ttl = connection_ttl
        self.scope_connections = scope_connections
        self.running: dict[int, Transfer] = {}
        self._transfer_ids = itertools.count(1)
        self.connection_reads = 0  # connection Secrets read from the cluster (tests)
        # (caller token hash, namespace, name) -> (read at, connection or the error it gave)
        self._connections: OrderedDict[tuple[str, str, str],
                                       tuple[float, S3Connection | ApiError]] = OrderedDict()
        self.shared = SourceAccess(self, SHARED, conn, "", kind=SHARED, name="Shared S3")
        self.watches = ConnectionWatches(self._connection_changed)
        # The s3 plugin loads the persisted shared settings once the server listens (see
        # S3Plugin.startup): whoever reads the shared source waits for that first.
        self.loading: asyncio.Future[None] | None = None

    async def loaded(self) -> None:
        """Return once the persisted settings are applied (at once, after the first time)."""
        loading = self.loading
        if loading is not None and not loading.done():
            await asyncio.shield(loading)

    # -- the shared source and the old interface ----------------------------------------------
    @property
    def connection(self) -> S3Connection:
        return self._conn

    @property
    def configured(self) -> bool:
        return self._conn.configured

    @property
    def default_bucket(self) -> str:
        return self._conn.default_bucket

    @property
    def transfers(self) -> SlotView:
        return self.shared.transfers

    @property
    def allowed(self) -> tuple[str, ...]:
        """Endpoint patterns user sources may use: the configured ones plus the shared host."""
        host = endpoint_host(self._conn.endpoint)
        return self.allowed_endpoints + ((host,) if host else ())

    async def start(self) -> None:
        if self._conn.configured:
            await self.pool.get(self._conn)

    async def apply(self, conn: S3Connection, *, force: bool = False) -> bool:
        """Switch the shared source to `conn` (the old client retires when unused)."""
        if conn == self._conn and not force:
            return False
        old, self._conn = self._conn, conn
        self.shared = SourceAccess(self, SHARED, conn, "", kind=SHARED, name="Shared S3")
        if old != conn:
            self.pool.retire(old)
        if conn.configured:
            await self.pool.get(conn)
            log.info("shared S3 settings applied: %s (bucket %r)", conn.endpoint or "AWS",
                     conn.default_bucket)
        return True

    async def client(self) -> Any:
        await self.loaded()
        return await self.shared.client()

    def lease(self) -> Any:
        return self.shared.lease()

    def multipart_writer(self, bucket: str, key: str, **kwargs: Any) -> MultipartWriter:
        return self.shared.multipart_writer(bucket, key, **kwargs)

    async def close(self) -> None:
        await self.watches.close()
        await self.pool.close()

    async def reap(self) -> None:
        await self.pool.reap()
        await self.watches.reap()

    # -- running transfers (culler, aborts) ---------------------------------------------------
    def transfer_started(self, kind: str, key: str, user: str | None = None,
                         cancel: Any = None) -> Transfer:
        t = Transfer(next(self._transfer_ids), kind, key, user, cancel=cancel)
        self.running[t.id] = t
        return t

    def transfer_finished(self, transfer: Transfer) -> None:
        self.running.pop(transfer.id, None)

    @property
    def busy(self) -> bool:
        return bool(self.running) or self.slots.total.busy

    # -- sources ------------------------------------------------------------------------------
    def may_use_shared(self, identity: Any, is_admin: bool) -> bool:
        return is_admin or bool(set(identity.groups) & set(self.shared_groups))

    def for_connection(self, conn: S3Connection, owner: str = "",
                       source_id: str = "detached") -> SourceAccess:
        """An access built from a bare connection (a background worker without a token)."""
        return SourceAccess(self, source_id, conn, owner, kind="detached",
                            bucket_scope=None)

    async def resolve(self, handler: Any, source: str | None = None) -> SourceAccess:
        await self.loaded()
        identity = handler.identity
        if source is None:
            source = handler.get_query_argument("source", None) or None
        is_admin = await handler.is_admin()
        user = await self.user_store.get(identity.username)
        preferred = int_or_none(user.get(TRANSFERS_KEY))
        explicit = source is not None
        if source is None:
            source = user.get(SOURCE_KEY) or None
        if source is None:
            if connection_from_user(user, self._conn).configured:
                source = USER
            elif self.may_use_shared(identity, is_admin):
                source = SHARED
            else:
                raise NoS3Source()
        ref = parse_source(source)
        try:
            src = await self._open(handler, ref, user, is_admin, preferred)
        except ApiError as exc:
            if explicit or exc.status not in (403, 404):
                raise
            # the remembered source is gone (connection deleted, access revoked): say so
            raise NoS3Source(f"Your current S3 source {ref.id} is not usable any more "
                             f"({exc.message}).") from None
        await src.ready()
        return src

    async def _open(self, handler: Any, ref: SourceRef, user: dict[str, str], is_admin: bool,
                    preferred: int | None) -> SourceAccess:
        identity = handler.identity
        owner = identity.username
        if ref.kind == SHARED:
            if not self.may_use_shared(identity, is_admin):
                raise NoS3Source("The shared S3 is for administrators and the groups an "
                                 "administrator named (plugins.s3.shared_groups).")
            if not self._conn.configured:
                raise S3NotConfigured()
            return SourceAccess(self, SHARED, self._conn, owner, kind=SHARED,
                                name="Shared S3", preferred_transfers=preferred)
        if ref.kind == USER:
            conn = connection_from_user(user, self._conn)
            if not conn.configured:
                raise NoS3Source("You have not saved S3 settings of your own.")
            self._check_endpoint(conn)
            return SourceAccess(self, USER, conn, owner, kind=USER, name="My S3 settings",
                                preferred_transfers=preferred)
        conn = await self.connection_for(handler, ref.namespace, ref.name)
        return SourceAccess(self, ref.id, conn, owner, kind="connection",
                            name=f"{ref.namespace}/{ref.name}", preferred_transfers=preferred,
                            bucket_scope=(conn.default_bucket or None)
                            if self.scope_connections else None)

    def _check_endpoint(self, conn: S3Connection) -> None:
        if not endpoint_allowed(conn.endpoint, self.allowed):
            raise ApiError(403, f"odh-core may not connect to the endpoint {conn.endpoint!r}: "
                           "an administrator allows endpoints in plugins.s3.allowed_endpoints",
                           error="EndpointNotAllowed")

    async def connection_for(self, handler: Any, namespace: str, name: str) -> S3Connection:
        """A connection Secret read with the caller's token, cached `connection_ttl` seconds
        per (token, Secret): a changed Secret gives a new client, a deleted one an error."""
        key = (handler.identity.token_key, namespace, name)
        hit = self._connections.get(key)
        now = time.monotonic()
        if hit is not None and now - hit[0] < self.connection_ttl:
            result = hit[1]
            self.watches.touch(key)
        else:
            result = await self._read_connection(handler, namespace, name)
            self._connections[key] = (now, result)
            self._connections.move_to_end(key)
            while len(self._connections) > MAX_CACHED_CONNECTIONS:
                self._connections.popitem(last=False)
            if hit is not None and isinstance(hit[1], S3Connection) and hit[1] != result:
                self._retire_if_unused(hit[1])
            if isinstance(result, S3Connection):
                await self.watches.ensure(handler.kube, handler.token, key)
        if isinstance(result, ApiError):
            raise result
        return result

    async def _connection_changed(self, key: tuple[str, str, str]) -> None:
        """A watch saw the Secret change or go: the next request reads it again, and a client
        nobody else uses any more is retired."""
        hit = self._connections.pop(key, None)
        if hit is not None and isinstance(hit[1], S3Connection):
            self._retire_if_unused(hit[1])

    def _retire_if_unused(self, conn: S3Connection) -> None:
        """The credentials changed or the Secret went: drop its client unless another cached
        entry (another user of the same Secret whose TTL has not run out) still uses it."""
        if conn == self._conn:
            return
        if not any(v[1] == conn for v in self._connections.values()):
            self.pool.retire(conn)

    async def _read_connection(self, handler: Any, namespace: str,
                               name: str) -> S3Connection | ApiError:
        self.connection_reads += 1
        try:
            secret = await handler.kube.get(f"/api/v1/namespaces/{namespace}/secrets/{name}",
                                            token=handler.token)
        except KubeError as exc:
            if exc.status in (401, 403, 404):
                return ApiError(exc.status if exc.status != 401 else 403,
                                f"S3 connection {namespace}/{name}: "
                                + ("not found" if exc.status == 404 else
                                   "you may not read it"),
                                error="NotFound" if exc.status == 404 else "Forbidden")
            raise
        if not is_s3_connection(secret):
            return ApiError(400, f"{namespace}/{name} is not a dashboard S3 connection",
                            error="InvalidSource")
        conn = connection_from_secret(secret, self._conn.with_(default_bucket=""))
        if not conn.configured:
            return ApiError(400, f"S3 connection {namespace}/{name} has no endpoint or keys",
                            error="InvalidSource")
        if not endpoint_allowed(conn.endpoint, self.allowed):
            return ApiError(403, f"odh-core may not connect to the endpoint of {namespace}/"
                            f"{name}: an administrator allows endpoints in "
                            "plugins.s3.allowed_endpoints", error="EndpointNotAllowed")
        return conn


def int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None
