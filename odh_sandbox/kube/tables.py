"""meta.k8s.io/v1 Table responses (what `kubectl get` asks for with `as=Table`)."""
from __future__ import annotations

from typing import Any

from .ops import age
from .resources import ResourceType


def wants_table(accept: str) -> bool:
    a = accept.lower().replace(" ", "")
    return "as=table" in a and "g=meta.k8s.io" in a


_NAME = {"name": "Name", "type": "string", "format": "name", "priority": 0,
         "description": "Name must be unique within a namespace. Is required when creating "
                        "resources, although some resources may allow a client to request "
                        "the generation of an appropriate name automatically."}
_AGE = {"name": "Age", "type": "string", "format": "", "priority": 0,
        "description": "CreationTimestamp is a timestamp representing the server time when "
                       "this object was created."}


def _col(name: str, desc: str) -> dict[str, Any]:
    return {"name": name, "type": "string", "format": "", "description": desc, "priority": 0}


def _pod_ready(obj: dict[str, Any]) -> str:
    specs = (obj.get("spec") or {}).get("containers") or []
    statuses = (obj.get("status") or {}).get("containerStatuses") or []
    ready = sum(1 for s in statuses if s.get("ready"))
    return f"{ready}/{len(specs)}"


def _pod_restarts(obj: dict[str, Any]) -> str:
    statuses = (obj.get("status") or {}).get("containerStatuses") or []
    return str(sum(int(s.get("restartCount", 0)) for s in statuses))


def _columns(rt: ResourceType) -> list[tuple[dict[str, Any], Any]]:
    """(definition, cell function) per column after Name."""
    if rt.key == ("", "pods"):
        return [(_col("Ready", "The aggregate readiness state of this pod for accepting "
                               "traffic."), _pod_ready),
                (_col("Status", "The aggregate status of the containers in this pod."),
                 lambda o: (o.get("status") or {}).get("phase", "Unknown")),
                (dict(_col("Restarts", "The number of times the containers in this pod have "
                                       "been restarted."), type="string"), _pod_restarts),
                (_AGE, lambda o: age(o["metadata"].get("creationTimestamp")))]
    if rt.key == ("", "namespaces"):
        return [(_col("Status", "The status of the namespace"),
                 lambda o: (o.get("status") or {}).get("phase", "")),
                (_AGE, lambda o: age(o["metadata"].get("creationTimestamp")))]
    if rt.key == ("", "configmaps"):
        return [(dict(_col("Data", "Data contains the configuration data."), type="integer"),
                 lambda o: len(o.get("data") or {}) + len(o.get("binaryData") or {})),
                (_AGE, lambda o: age(o["metadata"].get("creationTimestamp")))]
    if rt.key == ("", "secrets"):
        return [(_col("Type", "The type of the secret"), lambda o: o.get("type", "")),
                (dict(_col("Data", "The number of entries in the secret"), type="integer"),
                 lambda o: len(o.get("data") or {})),
                (_AGE, lambda o: age(o["metadata"].get("creationTimestamp")))]
    return [(_AGE, lambda o: age(o["metadata"].get("creationTimestamp")))]


def _partial(obj: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
            "metadata": obj["metadata"]}


def to_table(rt: ResourceType, objs: list[dict[str, Any]], list_meta: dict[str, Any],
             include_object: str = "Metadata") -> dict[str, Any]:
    cols = _columns(rt)
    rows = []
    for o in objs:
        cells: list[Any] = [o["metadata"]["name"]] + [fn(o) for _, fn in cols]
        row: dict[str, Any] = {"cells": cells}
        if include_object == "Object":
            row["object"] = o
        elif include_object != "None":
            row["object"] = _partial(o)
        rows.append(row)
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta,
            "columnDefinitions": [_NAME] + [d for d, _ in cols], "rows": rows}
