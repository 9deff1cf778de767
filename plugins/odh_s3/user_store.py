"""Each user's own settings, kept in the cluster so every replica agrees.

Users' settings live in Secrets of odh-core's namespace, keyed by a hash of the username:
the user's entry is the data key `<sha256(username)[:32]>` of the Secret
`odh-core-user-settings-<first hex digit of that hash>` (16 shards, so RBAC can name every
Secret the service account touches, and one shard holds ~2,500 users within a Secret's 1 MiB).
The service account reads and writes them only after the route decided the caller may change
*their own* settings; values are never returned in clear. An entry holds the user's S3
settings, their current S3 source, their Hugging Face token, their disclaimer answer and
their max concurrent transfers: flat string values; an absent key means "not set". Without a
cluster: one 0600 JSON file per user in the state directory.

Reads are cached per shard for `ttl` seconds (another replica's change is seen within it); a
write updates the local cache at once. Idle servers make no requests.
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
from pathlib import Path
from typing import Any

from odh_core import SERVICE_ACCOUNT, KubeError

from .clients import once
from .store import write_json_atomic

PREFIX = "odh-core-user-settings-"
SHARDS = "0123456789abcdef"
LABEL = "odh-core.opendatahub.io/user-settings"


def user_key(username: str) -> str:
    return hashlib.sha256(username.encode()).hexdigest()[:32]


def shard_name(username: str) -> str:
    return PREFIX + user_key(username)[0]


class UserStore:
    """get(username) -> {key: str}; update(username, {key: str | None}) (None deletes)."""

    def __init__(self, *, kube: Any = None, namespace: str = "", path: Path | None = None,
                 ttl: float = 10.0):
        self.kube = kube
        self.ns = namespace
        self.path = path
        self.ttl = ttl
        # shard name -> (read at, {user key: {key: value}}, resourceVersion)
        self._shards: dict[str, tuple[float, dict[str, dict[str, str]], str | None]] = {}
        self._reading: dict[str, asyncio.Future[Any]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.reads = 0  # backend reads (tests check the hot path makes none)

    def invalidate(self) -> None:
        self._shards.clear()

    async def get(self, username: str) -> dict[str, str]:
        # Without a cluster each user is a "shard" of one: the same cache, one file read.
        shard = shard_name(username) if self.kube is not None else user_key(username)
        hit = self._shards.get(shard)
        if hit is None or time.monotonic() - hit[0] >= self.ttl:
            hit = await self._load_shared(shard)
        return dict(hit[1].get(user_key(username)) or {})  # a copy: callers may change it

    async def _load_shared(self, shard: str) -> Any:
        """One read per shard however many requests wait for it."""
        return await once(self._reading, shard, lambda: self._load(shard))

    async def _load(self, shard: str) -> Any:
        if self.kube is None:
            entry = (time.monotonic(), {shard: await asyncio.to_thread(self._read_file, shard)},
                     None)
            self._shards[shard] = entry
            return entry
        obj = await self._get(shard)
        entry = (time.monotonic(), _decode(obj),
                 (obj or {}).get("metadata", {}).get("resourceVersion"))
        self._shards[shard] = entry
        return entry

    async def update(self, username: str, changes: dict[str, str | None]) -> dict[str, str]:
        if self.kube is None:
            key = user_key(username)
            data = await asyncio.to_thread(self._update_file, key, changes)
            self._shards[key] = (time.monotonic(), {key: data}, None)
            return dict(data)
        shard = shard_name(username)
        lock = self._locks.setdefault(shard, asyncio.Lock())
        async with lock:
            return await self._update_kube(shard, user_key(username), changes)

    async def delete(self, username: str) -> None:
        """Forget everything a user saved."""
        if self.kube is None:
            self._shards.pop(user_key(username), None)
            await asyncio.to_thread(self._file(user_key(username)).unlink, missing_ok=True)
            return
        shard = shard_name(username)
        async with self._locks.setdefault(shard, asyncio.Lock()):
            await self._update_kube(shard, user_key(username), None)

    # -- backends -------------------------------------------------------------------------------
    async def _get(self, name: str) -> dict[str, Any] | None:
        self.reads += 1
        try:
            return await self.kube.json("GET", f"/api/v1/namespaces/{self.ns}/secrets/{name}",
                                        token=SERVICE_ACCOUNT)
        except KubeError as exc:
            if exc.status == 404:
                return None
            raise

    async def _update_kube(self, shard: str, key: str,
                           changes: dict[str, str | None] | None) -> dict[str, str]:
        """Apply `changes` to one user's entry (None: remove the entry) and write the shard
        with its resourceVersion; another replica writing in between means read and retry."""
        base = f"/api/v1/namespaces/{self.ns}/secrets"
        for attempt in range(8):
            current = await self._get(shard)
            users = _decode(current)
            mine = dict(users.get(key) or {})
            if changes is None:
                if key not in users:
                    return {}
                users.pop(key)
            else:
                for k, v in changes.items():
                    if v is None:
                        mine.pop(k, None)
                    else:
                        mine[k] = v
                users[key] = mine
            obj = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                   "metadata": {"name": shard, "namespace": self.ns,
                                "labels": {LABEL: "true",
                                           "app.kubernetes.io/managed-by": "odh-core"}},
                   "data": {k: base64.b64encode(json.dumps(v).encode()).decode()
                            for k, v in users.items()}}
            try:
                if current is None:
                    written = await self.kube.json("POST", base, token=SERVICE_ACCOUNT,
                                                   json=obj)
                else:
                    obj["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
                    written = await self.kube.json("PUT", f"{base}/{shard}",
                                                   token=SERVICE_ACCOUNT, json=obj)
            except KubeError as exc:
                if exc.status == 409 and attempt < 7:
                    continue  # another user of the shard or another replica wrote first
                raise
            self._shards[shard] = (time.monotonic(), users,
                                   (written.get("metadata") or {}).get("resourceVersion"))
            return mine
        raise RuntimeError("unreachable")  # pragma: no cover

    def _file(self, key: str) -> Path:
        assert self.path is not None
        return self.path / f"{key}.json"

    def _read_file(self, key: str) -> dict[str, str]:
        self.reads += 1
        try:
            data = json.loads(self._file(key).read_text())
        except FileNotFoundError:
            return {}
        return {k: v for k, v in data.items() if isinstance(v, str)} \
            if isinstance(data, dict) else {}

    def _update_file(self, key: str, changes: dict[str, str | None]) -> dict[str, str]:
        data = self._read_file(key)
        for k, value in changes.items():
            if value is None:
                data.pop(k, None)
            else:
                data[k] = value
        write_json_atomic(self._file(key), data, ".user-")
        return data


def _decode(obj: dict[str, Any] | None) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for key, value in ((obj or {}).get("data") or {}).items():
        try:
            entry = json.loads(base64.b64decode(value))
        except (ValueError, UnicodeDecodeError):
            continue
        if isinstance(entry, dict):
            out[key] = {k: v for k, v in entry.items() if isinstance(v, str)}
    return out
