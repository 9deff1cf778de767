"""Resolving a gate: read the gating object as the user, check readiness, pick the URL.

Results are cached per (user token, service, namespace, name) for `cache_ttl` seconds, positive
answers only (an object that becomes ready is seen at once), and dropped early when the
resolved target fails. A watch (as the service account, one per gating kind and namespace,
opened while answers for it are cached) drops an object's answers as soon as it changes or
goes, so a changed URL or lost readiness is seen at once. Where the service account may not
watch that kind, the TTL alone bounds staleness. A just-revoked permission of one user is
honoured after at most `cache_ttl` seconds (default 5): RBAC changes are not watched.
"""
from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass
from typing import Any, Callable

from odh_core import ApiError, KubeClient

from .invalidation import GateWatches

from .config import GateSpec, ServiceSpec, TargetSource

_DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
CACHE_MAX = 10_000


@dataclass(frozen=True)
class Resolved:
    url: str
    target_name: str
    gate: tuple[str, str] | None = None  # (group, plural) of the gating object


def check_name(what: str, value: str) -> str:
    if not _DNS1123.match(value or ""):
        raise ApiError(400, f"{what} {value!r} is not a valid Kubernetes name")
    return value


def condition_true(obj: dict[str, Any], ctype: str) -> bool:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if isinstance(cond, dict) and cond.get("type") == ctype:
            return str(cond.get("status")) == "True"
    return False


def dig(obj: Any, keys: list[str]) -> Any:
    for key in keys:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def target_url(spec: ServiceSpec, obj: dict[str, Any] | None, values: dict[str, str]) -> str | None:
    for source in spec.targets:
        url = _from_source(source, obj, values)
        if url:
            return url.rstrip("/")
    return None


def _from_source(source: TargetSource, obj: dict[str, Any] | None,
                 values: dict[str, str]) -> str | None:
    if source.template is not None:
        return source.template.format(**values)
    value = dig(obj, source.field or []) if obj is not None else None
    if not isinstance(value, str) or not value.strip():
        return None
    value = value.strip()
    return value if re.match(r"^https?://", value) else f"https://{value}"


class GateResolver:
    def __init__(self, ttl: float, dashboard_namespace: str,
                 clock: Callable[[], float] = time.monotonic):
        self.ttl = ttl
        self.dashboard_namespace = dashboard_namespace
        self.clock = clock
        self._cache: dict[tuple[str, ...], tuple[float, Resolved]] = {}
        self.watches = GateWatches(self._forget_object)

    def _forget_object(self, gate: GateSpec, namespace: str, name: str) -> None:
        """A watched gating object changed: drop every answer resolved from it."""
        for k in [k for k, (_, r) in self._cache.items() if r.gate == (gate.group, gate.plural)
                  and k[2] == namespace and (name == "*" or k[3] == name)]:
            self._cache.pop(k, None)

    def _key(self, token: str, *parts: str) -> tuple[str, ...]:
        return (hashlib.sha256(token.encode()).hexdigest()[:32], *parts)

    def forget(self, key: str, namespace: str, name: str) -> None:
        """Drop every user's cached answer for this object (its target failed)."""
        for k in [k for k in self._cache if k[1:] == (key, namespace, name)]:
            self._cache.pop(k, None)

    async def resolve(self, kube: KubeClient | None, token: str, key: str, spec: ServiceSpec,
                      namespace: str | None, name: str | None) -> Resolved:
        gate = spec.gate
        ns = (gate.namespace if gate and gate.namespace else namespace) or ""
        nm = (gate.name if gate and gate.name else name) or ""
        values = {"name": nm, "namespace": ns, "dashboard_namespace": self.dashboard_namespace}
        if gate is None:
            url = target_url(spec, None, values)
            if not url:  # pragma: no cover - config validation makes templates non-empty
                raise ApiError(404, f"service {key!r} has no address")
            return Resolved(url, key)
        cache_key = self._key(token, key, ns, nm)
        hit = self._cache.get(cache_key)
        if hit is not None and hit[0] > self.clock():
            return hit[1]
        if kube is None:
            raise ApiError(503, "no Kubernetes API server is configured")
        obj = await self._read(kube, token, gate, ns, nm)
        where = f"{gate.kind} {ns + '/' if gate.namespaced else ''}{nm}"
        if gate.ready_condition and not condition_true(obj, gate.ready_condition):
            raise ApiError(404, f"{where} is not ready (condition {gate.ready_condition} is not "
                           "True)")
        url = target_url(spec, obj, values)
        if not url:
            raise ApiError(404, f"{where} is not ready (it has no service address yet)")
        resolved = Resolved(url, f"{key}/{ns}/{nm}" if ns else f"{key}/{nm}",
                            (gate.group, gate.plural))
        if self.ttl > 0:
            if len(self._cache) >= CACHE_MAX:
                self._prune()
            self._cache[cache_key] = (self.clock() + self.ttl, resolved)
            rv = (obj.get("metadata") or {}).get("resourceVersion", "")
            self.watches.ensure(kube, gate, ns if gate.namespaced else "", rv,
                                until=self.clock() + self.ttl)
        return resolved

    async def _read(self, kube: KubeClient, token: str, gate: GateSpec, ns: str,
                    nm: str) -> dict[str, Any]:
        where = f"{gate.kind} {ns + '/' if gate.namespaced else ''}{nm}"
        resp = await kube.request("GET", gate.api_path(ns, nm), token=token)
        if resp.status == 200:
            return resp.json() or {}
        if resp.status == 404:
            raise ApiError(404, f"{where} not found")
        if resp.status == 403:
            raise ApiError(403, f"you may not read {where}")
        if resp.status == 401:
            raise ApiError(401, "the cluster did not accept your token")
        raise ApiError(502, f"reading {where} failed: the API server answered {resp.status}")

    def _prune(self) -> None:
        now = self.clock()
        for k in [k for k, (exp, _) in self._cache.items() if exp <= now]:
            del self._cache[k]
        if len(self._cache) >= CACHE_MAX:
            self._cache.clear()
