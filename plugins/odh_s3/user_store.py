"""Each user's own settings, kept in the cluster so every replica agrees.

One Secret per user in odh-core's namespace, named by a hash of the username
(`odh-core-user-<sha256[:32]>`), written and read by the service account only after the
route decided the caller may change *their own* settings; its values are never returned in
clear. It holds the user's S3 settings, their current S3 source, their Hugging Face token,
their disclaimer answer and their max concurrent transfers: flat string values, an absent key
means "not set". Without a cluster: one 0600 JSON file per user in the state directory.

Reads are cached per user for `ttl` seconds (a watch on the labelled Secrets, when the
service account may watch them, invalidates sooner: see `watch.py`); a write invalidates the
local entry at once.
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import tempfile
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

from odh_core import SERVICE_ACCOUNT, KubeError

LABEL = "odh-core.opendatahub.io/user-settings"
MAX_CACHED = 4096


def user_key(username: str) -> str:
    return hashlib.sha256(username.encode()).hexdigest()[:32]


def secret_name(username: str) -> str:
    return f"odh-core-user-{user_key(username)}"


class UserStore:
    """get(username) -> {key: str}; update(username, {key: str | None}) (None deletes)."""

    def __init__(self, *, kube: Any = None, namespace: str = "", path: Path | None = None,
                 ttl: float = 10.0):
        self.kube = kube
        self.ns = namespace
        self.path = path
        self.ttl = ttl
        self._cache: OrderedDict[str, tuple[float, dict[str, str]]] = OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}
        self.watch: Any = None  # a running SecretWatch invalidates changes: no TTL needed
        self.reads = 0  # backend reads (tests check the hot path makes none)

    # -- cache ----------------------------------------------------------------------------------
    async def on_change(self, event: dict[str, Any] | None) -> None:
        """A watch event on the users' Secrets (None: reconnected, anything may have changed)."""
        if event is None:
            self.invalidate()
        else:
            self.invalidate(((event.get("object") or {}).get("metadata") or {}).get("name"))

    def invalidate(self, name: str | None = None) -> None:
        """Forget one Secret's cached value (by Secret name) or everything."""
        if name is None:
            self._cache.clear()
        else:
            self._cache.pop(name, None)

    async def get(self, username: str) -> dict[str, str]:
        name = secret_name(username)
        hit = self._cache.get(name)
        if hit is not None and ((self.watch is not None and self.watch.active) or time.monotonic() - hit[0] < self.ttl):
            return hit[1]
        data = await self._read(name)
        self._remember(name, data)
        return data

    def _remember(self, name: str, data: dict[str, str]) -> None:
        self._cache[name] = (time.monotonic(), data)
        self._cache.move_to_end(name)
        while len(self._cache) > MAX_CACHED:
            self._cache.popitem(last=False)

    async def update(self, username: str, changes: dict[str, str | None]) -> dict[str, str]:
        name = secret_name(username)
        lock = self._locks.setdefault(name, asyncio.Lock())
        try:
            async with lock:
                data = await (self._update_kube(name, username, changes) if self.kube is not None
                              else asyncio.to_thread(self._update_file, name, changes))
        finally:
            if not lock.locked():
                self._locks.pop(name, None)
        self._remember(name, data)
        return data

    async def delete(self, username: str) -> None:
        """Forget everything a user saved (their Secret or file)."""
        name = secret_name(username)
        self.invalidate(name)
        if self.kube is None:
            await asyncio.to_thread(self._file(name).unlink, missing_ok=True)
            return
        try:
            await self.kube.json("DELETE", f"/api/v1/namespaces/{self.ns}/secrets/{name}",
                                 token=SERVICE_ACCOUNT)
        except KubeError as exc:
            if exc.status != 404:
                raise

    # -- backends -------------------------------------------------------------------------------
    async def _read(self, name: str) -> dict[str, str]:
        self.reads += 1
        if self.kube is None:
            return await asyncio.to_thread(self._read_file, name)
        obj = await self._get(name)
        return _decode(obj)

    async def _get(self, name: str) -> dict[str, Any] | None:
        try:
            return await self.kube.json("GET", f"/api/v1/namespaces/{self.ns}/secrets/{name}",
                                        token=SERVICE_ACCOUNT)
        except KubeError as exc:
            if exc.status == 404:
                return None
            raise

    async def _update_kube(self, name: str, username: str,
                           changes: dict[str, str | None]) -> dict[str, str]:
        base = f"/api/v1/namespaces/{self.ns}/secrets"
        for attempt in range(5):
            current = await self._get(name)
            data = {**_decode(current)}
            for key, value in changes.items():
                if value is None:
                    data.pop(key, None)
                else:
                    data[key] = value
            obj = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                   "metadata": {"name": name, "namespace": self.ns,
                                "labels": {LABEL: "true",
                                           "app.kubernetes.io/managed-by": "odh-core"},
                                # Who it belongs to, for operators; the name is only a hash.
                                "annotations": {"odh-core.opendatahub.io/user": username}},
                   "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}
            try:
                if current is None:
                    await self.kube.json("POST", base, token=SERVICE_ACCOUNT, json=obj)
                else:
                    obj["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
                    await self.kube.json("PUT", f"{base}/{name}", token=SERVICE_ACCOUNT,
                                         json=obj)
            except KubeError as exc:
                if exc.status == 409 and attempt < 4:
                    continue  # another replica wrote in between: re-read, apply ours again
                raise
            return data
        raise RuntimeError("unreachable")  # pragma: no cover

    def _file(self, name: str) -> Path:
        assert self.path is not None
        return self.path / f"{name}.json"

    def _read_file(self, name: str) -> dict[str, str]:
        try:
            data = json.loads(self._file(name).read_text())
        except FileNotFoundError:
            return {}
        return {k: v for k, v in data.items() if isinstance(v, str)} \
            if isinstance(data, dict) else {}

    def _update_file(self, name: str, changes: dict[str, str | None]) -> dict[str, str]:
        data = self._read_file(name)
        for key, value in changes.items():
            if value is None:
                data.pop(key, None)
            else:
                data[key] = value
        self._file(name).parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".user-", dir=self._file(name).parent)
        try:
            with os.fdopen(fd, "w") as fh:
                json.dump(data, fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, self._file(name))
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        return data


def _decode(obj: dict[str, Any] | None) -> dict[str, str]:
    out = {}
    for key, value in ((obj or {}).get("data") or {}).items():
        try:
            out[key] = base64.b64decode(value).decode()
        except (ValueError, UnicodeDecodeError):
            continue
    return out
