"""Where run-time settings changes persist, so restarts and other replicas see them.

A flat document of camelCase keys (the UI's field names). Credentials (`accessKeyId`,
`secretAccessKey`, and the proxy URLs, which may carry a user:password) go to a Kubernetes
Secret, the rest to a ConfigMap, both in the dashboard namespace, written by the service
account (only after the route's own admin check). Without a cluster: one JSON file in the
state directory, replaced atomically (write a temp file, fsync, rename).

Two objects cannot be written atomically together, so each write stamps a fresh revision on
every object it writes and the ConfigMap records the Secret revision it belongs with; a reader
that sees a Secret newer than its ConfigMap (a writer died in between, or is writing now)
keeps its last consistent view instead of mixing halves.
"""
from __future__ import annotations

import asyncio
import base64
import json
import os
import tempfile
import uuid
from pathlib import Path
from typing import Any, Protocol

from odh_core import SERVICE_ACCOUNT, KubeError

SECRET_KEYS = frozenset({"accessKeyId", "secretAccessKey", "httpProxy", "httpsProxy"})
REVISION = "odh-core.opendatahub.io/settings-revision"
PAIRED = "odh-core.opendatahub.io/secret-revision"
LABELS = {"app.kubernetes.io/managed-by": "odh-core", "app.kubernetes.io/component": "s3"}


class SettingsStore(Protocol):
    async def load(self) -> dict[str, Any]: ...
    async def update(self, changes: dict[str, Any]) -> dict[str, Any]: ...


class FileStore:
    """A JSON file (mode 0600) in the state directory, replaced atomically."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = asyncio.Lock()

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        return data if isinstance(data, dict) else {}

    def _write(self, data: dict[str, Any]) -> None:
        write_json_atomic(self.path, data, ".s3-settings-")

    async def load(self) -> dict[str, Any]:
        return await asyncio.to_thread(self._read)

    async def update(self, changes: dict[str, Any]) -> dict[str, Any]:
        async with self._lock:
            data = await asyncio.to_thread(self._read)
            data.update(changes)
            await asyncio.to_thread(self._write, data)
            return data


def write_json_atomic(path: Path, data: Any, prefix: str) -> None:
    """Write `data` as JSON to `path` (mode 0600): a temp file, fsync, rename; never a torn
    file, and no temp file left behind on failure."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=prefix, dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


class KubeStore:
    """A Secret (credentials) + ConfigMap (the rest) in the dashboard namespace."""

    def __init__(self, kube: Any, namespace: str, secret: str, configmap: str):
        self.kube = kube
        self.ns = namespace
        self.secret = secret
        self.configmap = configmap
        self._last: dict[str, Any] | None = None
        self._lock = asyncio.Lock()
        self.reads = 0  # pairs of GETs made (tests: an idle server makes none)

    def _path(self, kind: str, name: str | None = None) -> str:
        base = f"/api/v1/namespaces/{self.ns}/{kind}"
        return f"{base}/{name}" if name else base

    async def _get(self, kind: str, name: str) -> dict[str, Any] | None:
        try:
            return await self.kube.json("GET", self._path(kind, name), token=SERVICE_ACCOUNT)
        except KubeError as exc:
            if exc.status == 404:
                return None
            raise

    @staticmethod
    def _decode_secret(obj: dict[str, Any] | None) -> dict[str, Any]:
        out = {}
        for k, v in ((obj or {}).get("data") or {}).items():
            try:
                out[k] = base64.b64decode(v).decode()
            except (ValueError, UnicodeDecodeError):
                continue
        return out

    @staticmethod
    def _decode_cm(obj: dict[str, Any] | None) -> dict[str, Any]:
        raw = ((obj or {}).get("data") or {}).get("settings.json")
        try:
            data = json.loads(raw) if raw else {}
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    @staticmethod
    def _ann(obj: dict[str, Any] | None, key: str) -> str | None:
        return (((obj or {}).get("metadata") or {}).get("annotations") or {}).get(key)

    async def _read(self) -> tuple[dict[str, Any], dict | None, dict | None]:
        self.reads += 1
        secret, cm = await asyncio.gather(self._get("secrets", self.secret),
                                          self._get("configmaps", self.configmap))
        consistent = secret is None or cm is None or \
            self._ann(cm, PAIRED) == self._ann(secret, REVISION)
        data = {**self._decode_cm(cm), **self._decode_secret(secret)}
        if consistent or self._last is None:
            self._last = data
        return self._last, secret, cm

    async def load(self) -> dict[str, Any]:
        data, _, _ = await self._read()
        return dict(data)

    async def update(self, changes: dict[str, Any]) -> dict[str, Any]:
        async with self._lock:
            for attempt in range(5):
                _, secret, cm = await self._read()
                sec_data = self._decode_secret(secret)
                cm_data = self._decode_cm(cm)
                sec_changes = {k: v for k, v in changes.items() if k in SECRET_KEYS}
                cm_changes = {k: v for k, v in changes.items() if k not in SECRET_KEYS}
                try:
                    sec_rev = self._ann(secret, REVISION)
                    if sec_changes or secret is None and cm is None:
                        sec_data.update(sec_changes)
                        sec_rev = uuid.uuid4().hex
                        await self._put("secrets", self.secret, secret, {
                            "type": "Opaque",
                            "data": {k: base64.b64encode(str(v).encode()).decode()
                                     for k, v in sec_data.items()}}, {REVISION: sec_rev})
                    # The ConfigMap is always rewritten: it names the Secret revision it goes
                    # with, which is what makes a half-done pair detectable.
                    cm_data.update(cm_changes)
                    await self._put("configmaps", self.configmap, cm,
                                    {"data": {"settings.json": json.dumps(cm_data)}},
                                    {REVISION: uuid.uuid4().hex, PAIRED: sec_rev or ""})
                except KubeError as exc:
                    if exc.status == 409 and attempt < 4:
                        continue  # someone wrote in between: re-read and apply our changes again
                    raise
                merged = {**cm_data, **sec_data}
                self._last = merged
                return dict(merged)
            raise RuntimeError("unreachable")  # pragma: no cover

    async def _put(self, kind: str, name: str, current: dict | None, body: dict[str, Any],
                   annotations: dict[str, str]) -> None:
        obj = {"apiVersion": "v1", "kind": "Secret" if kind == "secrets" else "ConfigMap",
               "metadata": {"name": name, "namespace": self.ns, "labels": dict(LABELS),
                            "annotations": annotations}, **body}
        if current is None:
            await self.kube.json("POST", self._path(kind), token=SERVICE_ACCOUNT, json=obj)
        else:
            obj["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            await self.kube.json("PUT", self._path(kind, name), token=SERVICE_ACCOUNT, json=obj)
