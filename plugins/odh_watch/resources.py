"""What a watch is about: the target parsed from a URL, and API discovery to resolve the
simplified form's resource names (`pods`, `deployments.apps`, `Notebook`) without a table."""
from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from typing import Any

from odh_core import SERVICE_ACCOUNT, ApiError, KubeClient

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
_VERSION = re.compile(r"^v[0-9][a-z0-9]{0,30}$")
_SELECTOR_MAX = 4096
AGGREGATED_ACCEPT = ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
                     "application/json")


@dataclass(frozen=True)
class Target:
    """One watchable collection: the key of a shared informer (selectors included)."""

    group: str
    version: str
    plural: str
    namespace: str = ""
    label_selector: str = ""
    field_selector: str = ""

    @property
    def collection_path(self) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespace:
            base += f"/namespaces/{self.namespace}"
        return f"{base}/{self.plural}"

    def selector_params(self) -> dict[str, str]:
        out = {}
        if self.label_selector:
            out["labelSelector"] = self.label_selector
        if self.field_selector:
            out["fieldSelector"] = self.field_selector
        return out

    def describe(self) -> str:
        res = f"{self.plural}.{self.group}" if self.group else self.plural
        return f"{res} in {self.namespace or 'all namespaces'}"


def _check_name(value: str, what: str) -> str:
    if not _NAME.match(value):
        raise ApiError(400, f"invalid {what}: {value[:80]!r}")
    return value


def _selector(value: str | None, what: str) -> str:
    value = (value or "").strip()
    if len(value) > _SELECTOR_MAX:
        raise ApiError(400, f"{what} is too long")
    return value


def parse_api_path(path: str, label_selector: str | None,
                   field_selector: str | None) -> Target:
    """`/api/v1[/watch][/namespaces/<ns>]/<plural>[/<name>]` or the `/apis/<group>/<version>`
    equivalent. A name becomes a `metadata.name` field selector, as the API server does."""
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 2 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = _check_name(parts[1], "API group"), parts[2], parts[3:]
    else:
        raise ApiError(400, "expected /wss/k8s/api/<version>/... or /wss/k8s/apis/<group>/"
                       "<version>/...")
    if not _VERSION.match(version):
        raise ApiError(400, f"invalid API version: {version[:40]!r}")
    if rest[:1] == ["watch"]:  # the deprecated /watch/ prefix form
        rest = rest[1:]
    namespace = ""
    if len(rest) >= 3 and rest[0] == "namespaces":
        namespace, rest = _check_name(rest[1], "namespace"), rest[2:]
    if not rest or len(rest) > 2:
        raise ApiError(400, "the path must name a resource collection (or one object); "
                       "subresources cannot be watched")
    plural = _check_name(rest[0], "resource")
    fields = _selector(field_selector, "fieldSelector")
    if len(rest) == 2:
        by_name = f"metadata.name={_check_name(rest[1], 'name')}"
        fields = f"{fields},{by_name}" if fields else by_name
    return Target(group, version, plural, namespace, _selector(label_selector, "labelSelector"),
                  fields)


@dataclass(frozen=True)
class ApiResource:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    names: tuple[str, ...]          # every name the resource answers to (lower case)


class Discovery:
    """Resource names -> group/version/plural from the API server's own discovery, cached.

    Discovery is read with the service account: it says which types exist, not what anyone
    may see; access is still reviewed with the subscriber's token.
    """

    def __init__(self, kube: KubeClient, ttl: float):
        self.kube = kube
        self.ttl = ttl
        self._resources: list[ApiResource] = []
        self._fetched = 0.0
        self._lock = asyncio.Lock()

    async def resolve(self, name: str) -> ApiResource:
        """`pods`, `pod`, `Pod`, `po`, `deployments.apps`, `deployments.v1.apps`."""
        wanted = name.strip().lower()
        if not wanted or len(wanted) > 253:
            raise ApiError(400, "query parameter resource is required")
        for refresh in (False, True):
            found = self._match(await self._load(refresh), wanted)
            if found is not None:
                return found
        raise ApiError(404, f"the server does not serve a resource named {name[:80]!r}")

    @staticmethod
    def _match(resources: list[ApiResource], wanted: str) -> ApiResource | None:
        head, _, qualifier = wanted.partition(".")
        for r in resources:  # in server order: core and preferred versions first
            if head not in r.names:
                continue
            if not qualifier or qualifier == r.group or qualifier == f"{r.version}.{r.group}" \
                    or (qualifier == r.version and not r.group):
                return r
        return None

    async def _load(self, refresh: bool) -> list[ApiResource]:
        async with self._lock:  # one fetch for a burst of subscribers
            stale = time.monotonic() - self._fetched > self.ttl
            if self._resources and not stale and not refresh:
                return self._resources
            if refresh and time.monotonic() - self._fetched < 2.0:
                return self._resources  # a miss right after a fetch: do not hammer discovery
            core, groups = await asyncio.gather(self._aggregated("/api"),
                                                self._aggregated("/apis"))
            if core is None or groups is None:
                resources = await self._legacy()
            else:
                resources = _from_aggregated(core) + _from_aggregated(groups)
            self._resources, self._fetched = resources, time.monotonic()
            return resources

    async def _aggregated(self, path: str) -> dict[str, Any] | None:
        resp = await self.kube.request("GET", path, token=SERVICE_ACCOUNT,
                                       headers={"Accept": AGGREGATED_ACCEPT})
        if not resp.ok:
            raise ApiError(502, f"API discovery failed ({resp.status})")
        doc = resp.json()
        return doc if isinstance(doc, dict) and doc.get("kind") == "APIGroupDiscoveryList" \
            else None

    async def _legacy(self) -> list[ApiResource]:
        groups = await self.kube.get("/apis", token=SERVICE_ACCOUNT)
        gvs = [("", "v1")] + [(g["name"], g["preferredVersion"]["version"])
                              for g in groups.get("groups", [])]
        docs = await asyncio.gather(*(self.kube.get(
            f"/apis/{g}/{v}" if g else f"/api/{v}", token=SERVICE_ACCOUNT) for g, v in gvs),
            return_exceptions=True)
        out = []
        for (g, v), doc in zip(gvs, docs):
            if isinstance(doc, BaseException):
                continue  # one broken aggregated API must not hide the rest
            for r in doc.get("resources", []):
                if "/" in r["name"] or "watch" not in r.get("verbs", []):
                    continue
                out.append(_resource(g, v, r["name"], r.get("singularName", ""), r["kind"],
                                     r.get("namespaced", True), r.get("shortNames", [])))
        return out


def _resource(group: str, version: str, plural: str, singular: str, kind: str,
              namespaced: bool, short: list[str]) -> ApiResource:
    names = tuple(n.lower() for n in (plural, singular, kind, *short) if n)
    return ApiResource(group, version, plural, kind, namespaced, names)


def _from_aggregated(doc: dict[str, Any]) -> list[ApiResource]:
    out = []
    for item in doc.get("items", []):
        group = item.get("metadata", {}).get("name", "")
        for vdoc in item.get("versions", [])[:1]:  # the first version is the preferred one
            for r in vdoc.get("resources", []):
                if "watch" not in r.get("verbs", []):
                    continue
                out.append(_resource(group, vdoc["version"], r["resource"],
                                     r.get("singularResource", ""),
                                     (r.get("responseKind") or {}).get("kind", ""),
                                     r.get("scope") != "Cluster", r.get("shortNames", [])))
    return out
