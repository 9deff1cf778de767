"""Discovery documents: legacy (/api, /apis, group-version resource lists) and the
aggregated v2 form kubectl 1.26+ asks for in its Accept header."""
from __future__ import annotations

from typing import Any

from .resources import Registry, ResourceType

AGGREGATED_CT = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"

_SUB_VERBS = {"status": ["get", "patch", "update"], "log": ["get"],
              "scale": ["get", "patch", "update"], "finalize": ["update"],
              "token": ["create"], "exec": ["create", "get"], "attach": ["create", "get"],
              "portforward": ["create", "get"]}
_STREAM_KINDS = {"exec": "PodExecOptions", "attach": "PodAttachOptions",
                 "portforward": "PodPortForwardOptions"}
# Group order of a real server; CRD groups follow, alphabetically.
_GROUP_ORDER = ["", "apps", "batch", "authentication.k8s.io", "authorization.k8s.io",
                "networking.k8s.io", "policy", "rbac.authorization.k8s.io", "scheduling.k8s.io",
                "apiextensions.k8s.io"]


def wants_aggregated(accept: str) -> bool:
    return "as=apigroupdiscoverylist" in accept.lower().replace(" ", "")


def _sub_kind(rt: ResourceType, sub: str) -> tuple[str, str, str]:
    if sub == "scale":
        return ("autoscaling", "v1", "Scale")
    if sub == "token":
        return ("authentication.k8s.io", "v1", "TokenRequest")
    if sub in _STREAM_KINDS:
        return ("", "v1", _STREAM_KINDS[sub])
    if sub == "finalize" or sub == "status":
        return (rt.group, rt.versions[0], rt.kind)
    return ("", "", "")


def _groups_sorted(reg: Registry) -> list[tuple[str, list[str]]]:
    gv = reg.group_versions()
    def order(g: str) -> tuple[int, str]:
        return (_GROUP_ORDER.index(g) if g in _GROUP_ORDER else len(_GROUP_ORDER), g)
    return [(g, gv[g]) for g in sorted(gv, key=order)]


def api_versions(server_address: str) -> dict[str, Any]:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                            "serverAddress": server_address}]}


def _group_doc(group: str, versions: list[str]) -> dict[str, Any]:
    vs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"name": group, "versions": vs, "preferredVersion": vs[0]}


def api_group_list(reg: Registry) -> dict[str, Any]:
    return {"kind": "APIGroupList", "apiVersion": "v1",
            "groups": [_group_doc(g, vs) for g, vs in _groups_sorted(reg) if g]}


def api_group(reg: Registry, group: str) -> dict[str, Any] | None:
    vs = reg.group_versions().get(group)
    if not vs or not group:
        return None
    doc = _group_doc(group, vs)
    doc.update(kind="APIGroup", apiVersion="v1")
    return doc


def resource_list(reg: Registry, group: str, version: str) -> dict[str, Any]:
    resources: list[dict[str, Any]] = []
    for rt in sorted(reg.in_group_version(group, version), key=lambda r: r.plural):
        entry: dict[str, Any] = {"name": rt.plural, "singularName": rt.singular,
                                 "namespaced": rt.namespaced, "kind": rt.kind,
                                 "verbs": list(rt.verbs)}
        if rt.short_names:
            entry["shortNames"] = list(rt.short_names)
        if rt.categories:
            entry["categories"] = list(rt.categories)
        resources.append(entry)
        for sub in rt.subresources:
            g, v, k = _sub_kind(rt, sub)
            se: dict[str, Any] = {"name": f"{rt.plural}/{sub}", "singularName": "",
                                  "namespaced": rt.namespaced, "kind": k or rt.kind,
                                  "verbs": _SUB_VERBS.get(sub, ["get"])}
            if g != rt.group or (v and v != version):
                se["group"], se["version"] = g, v
            resources.append(se)
    gv = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv,
            "resources": resources}


def _aggregated_resource(rt: ResourceType, version: str) -> dict[str, Any]:
    d: dict[str, Any] = {
        "resource": rt.plural,
        "responseKind": {"group": rt.group, "version": version, "kind": rt.kind},
        "scope": "Namespaced" if rt.namespaced else "Cluster",
        "singularResource": rt.singular,
        "verbs": list(rt.verbs),
    }
    if rt.short_names:
        d["shortNames"] = list(rt.short_names)
    if rt.categories:
        d["categories"] = list(rt.categories)
    subs = []
    for sub in rt.subresources:
        g, v, k = _sub_kind(rt, sub)
        s: dict[str, Any] = {"subresource": sub, "verbs": _SUB_VERBS.get(sub, ["get"])}
        if k:
            s["responseKind"] = {"group": g, "version": v if g != rt.group else version,
                                 "kind": k}
        subs.append(s)
    if subs:
        d["subresources"] = subs
    return d


def aggregated(reg: Registry, core: bool) -> dict[str, Any]:
    """APIGroupDiscoveryList for /api (core=True) or /apis."""
    items = []
    for group, versions in _groups_sorted(reg):
        if (group == "") != core:
            continue
        vdocs = []
        for v in versions:
            rts = sorted(reg.in_group_version(group, v), key=lambda r: r.plural)
            vdocs.append({"version": v, "resources": [_aggregated_resource(rt, v)
                                                      for rt in rts],
                          "freshness": "Current"})
        items.append({"metadata": {"name": group, "creationTimestamp": None},
                      "versions": vdocs})
    return {"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2",
            "metadata": {}, "items": items}
