"""The scheduling part of a Jupyter-tile Notebook: resources, tolerations, node selector,
affinity and the hardware profile, from either request shape the old backend accepted.

- `podSpecOptions` (the stock frontend since hardware profiles: `{resources, tolerations,
  nodeSelector, affinity, lastSizeSelection?, selectedHardwareProfile?}`): taken as sent, as the
  old backend did, once each part has the shape Kubernetes expects; with a hardware profile the
  tolerations and node selector are left to the profile (the old backend nulled them too).
- `notebookSizeName` + `gpus` (before hardware profiles): a named size of
  `spec.notebookSizes` and a GPU count, with the GPU toleration/affinity the old backend added.
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

from odh_core import ApiError

from .names import check_label, check_subdomain, is_qualified_name

GPU = "nvidia.com/gpu"
MAX_GPUS = 64
# A Kubernetes quantity (e.g. 500m, 2, 4Gi, 1.5, 1e3).
_QUANTITY = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+|[numkMGTPE]|[KMGTPE]i)?$")
_TOLERATION_KEYS = {"key", "operator", "value", "effect", "tolerationSeconds"}


@dataclass
class PodOptions:
    resources: dict[str, Any] = field(default_factory=dict)
    tolerations: list[dict[str, Any]] | None = None
    node_selector: dict[str, str] | None = None
    affinity: dict[str, Any] = field(default_factory=dict)
    size_name: str = ""
    profile_name: str = ""
    profile_namespace: str = ""


def _resources(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict) or set(value) - {"requests", "limits"}:
        raise ApiError(400, "podSpecOptions.resources must be {requests?, limits?}")
    out: dict[str, Any] = {}
    for part, amounts in value.items():
        if amounts is None:
            continue
        if not isinstance(amounts, dict):
            raise ApiError(400, f"podSpecOptions.resources.{part} must be an object")
        for name, amount in amounts.items():
            if not is_qualified_name(name) or isinstance(amount, bool) or \
                    not _QUANTITY.match(str(amount)):
                raise ApiError(400, f"podSpecOptions.resources.{part}.{name}: {amount!r} is "
                               "not a quantity")
        out[part] = dict(amounts)
    if out.get("requests") and not out.get("limits"):
        out["limits"] = dict(out["requests"])
    return out


def _tolerations(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(
            isinstance(t, dict) and not set(t) - _TOLERATION_KEYS for t in value):
        raise ApiError(400, "podSpecOptions.tolerations must be a list of tolerations")
    return copy.deepcopy(value)


def _node_selector(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
            is_qualified_name(k) and isinstance(v, str) for k, v in value.items()):
        raise ApiError(400, "podSpecOptions.nodeSelector must map label keys to strings")
    return dict(value)


def from_pod_spec_options(value: Any) -> PodOptions:
    if not isinstance(value, dict):
        raise ApiError(400, "podSpecOptions must be an object")
    affinity = value.get("affinity") or {}
    if not isinstance(affinity, dict):
        raise ApiError(400, "podSpecOptions.affinity must be an object")
    size = value.get("lastSizeSelection") or ""
    if not isinstance(size, str) or len(size) > 253:
        raise ApiError(400, "podSpecOptions.lastSizeSelection must be a string")
    opts = PodOptions(resources=_resources(value.get("resources")),
                      affinity=copy.deepcopy(affinity), size_name=size)
    profile = value.get("selectedHardwareProfile")
    if profile:
        meta = profile.get("metadata") if isinstance(profile, dict) else None
        if not isinstance(meta, dict):
            raise ApiError(400, "podSpecOptions.selectedHardwareProfile needs metadata")
        opts.profile_name = check_subdomain(meta.get("name", ""), "hardware profile name")
        opts.profile_namespace = check_label(meta.get("namespace", ""),
                                             "hardware profile namespace")
    else:  # without a profile the request's own scheduling applies
        opts.tolerations = _tolerations(value.get("tolerations"))
        opts.node_selector = _node_selector(value.get("nodeSelector"))
    return opts


def from_size(size: dict[str, Any], gpus: Any, toleration: Any) -> PodOptions:
    """The size/GPU shape: what the old backend's assembleNotebook derived from them."""
    if isinstance(gpus, bool) or not isinstance(gpus, int) or not 0 <= gpus <= MAX_GPUS:
        raise ApiError(400, f"gpus must be a whole number from 0 to {MAX_GPUS}")
    resources = copy.deepcopy(size.get("resources") or {})
    tolerations: list[dict[str, Any]] = []
    affinity: dict[str, Any] = {}
    if gpus > 0:
        resources.setdefault("limits", {})[GPU] = gpus
        resources.setdefault("requests", {})[GPU] = gpus
        tolerations.append({"effect": "NoSchedule", "key": GPU, "operator": "Exists"})
    else:
        affinity = {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
            "weight": 1, "preference": {"matchExpressions": [{
                "key": "nvidia.com/gpu.present", "operator": "NotIn", "values": ["true"]}]}}]}}
    if isinstance(toleration, dict) and toleration.get("enabled") and toleration.get("key"):
        tolerations.append({"effect": "NoSchedule", "key": toleration["key"],
                            "operator": "Exists"})
    if resources.get("requests") and not resources.get("limits"):
        resources["limits"] = resources["requests"]
    return PodOptions(resources=resources, tolerations=tolerations, affinity=affinity,
                      size_name=str(size.get("name") or ""))
