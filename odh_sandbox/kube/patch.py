"""Patch types kube-apiserver accepts: JSON merge, JSON patch, strategic merge, apply.

All functions return new structures and never mutate their inputs (stored objects are
shared with in-flight responses).
"""
from __future__ import annotations

import copy
from typing import Any

from .errors import KubeError, bad_request

# -- RFC 7386 JSON merge patch -------------------------------------------------------


def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


# -- RFC 6902 JSON patch -------------------------------------------------------------


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise bad_request(f"the server rejected our request due to an error in our request: "
                          f"JSON pointer must start with '/': {path}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _invalid_patch(msg: str) -> KubeError:
    return KubeError(422, msg, "Invalid")


def _walk(doc: Any, parts: list[str]) -> Any:
    cur = doc
    for p in parts:
        if isinstance(cur, dict):
            if p not in cur:
                raise _invalid_patch(f"the server rejected our request due to an error in our "
                                     f"request: missing path component: {p}")
            cur = cur[p]
        elif isinstance(cur, list):
            try:
                cur = cur[int(p)]
            except (ValueError, IndexError):
                raise _invalid_patch(f"the server rejected our request due to an error in our "
                                     f"request: invalid index: {p}") from None
        else:
            raise _invalid_patch(f"the server rejected our request due to an error in our "
                                 f"request: cannot walk into {p}")
    return cur


def _remove(doc: Any, parts: list[str]) -> Any:
    parent = _walk(doc, parts[:-1])
    last = parts[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise _invalid_patch(f"the server rejected our request due to an error in our "
                                 f"request: Unable to remove nonexistent key: {last}: "
                                 "missing value")
        return parent.pop(last)
    try:
        return parent.pop(int(last))
    except (ValueError, IndexError):
        raise _invalid_patch("the server rejected our request due to an error in our "
                             f"request: Unable to remove index {last}") from None


def _add(doc: Any, parts: list[str], value: Any, replace: bool = False) -> Any:
    if not parts:
        return value
    parent = _walk(doc, parts[:-1])
    last = parts[-1]
    if isinstance(parent, dict):
        if replace and last not in parent:
            raise _invalid_patch("the server rejected our request due to an error in our "
                                 f"request: replace operation does not apply: doc is missing "
                                 f"key: /{'/'.join(parts)}: missing value")
        parent[last] = value
    elif isinstance(parent, list):
        if last == "-" and not replace:
            parent.append(value)
        else:
            try:
                idx = int(last)
                if replace:
                    parent[idx] = value
                else:
                    if idx > len(parent) or idx < 0:
                        raise IndexError
                    parent.insert(idx, value)
            except (ValueError, IndexError):
                raise _invalid_patch("the server rejected our request due to an error in "
                                     f"our request: invalid index {last}") from None
    else:
        raise _invalid_patch("the server rejected our request due to an error in our "
                             "request: cannot add to a scalar")
    return doc


def json_patch(doc: Any, ops: Any) -> Any:
    if not isinstance(ops, list):
        raise bad_request("json: cannot unmarshal object into Go value of type "
                          "jsonpatch.Patch")
    doc = copy.deepcopy(doc)
    for op in ops:
        if not isinstance(op, dict) or "op" not in op:
            raise bad_request("the server rejected our request due to an error in our request")
        kind = op["op"]
        parts = _pointer(op.get("path", ""))
        if kind == "add":
            doc = _add(doc, parts, copy.deepcopy(op.get("value")))
        elif kind == "remove":
            _remove(doc, parts)
        elif kind == "replace":
            doc = _add(doc, parts, copy.deepcopy(op.get("value")), replace=True)
        elif kind in ("move", "copy"):
            src = _pointer(op.get("from", ""))
            value = _remove(doc, src) if kind == "move" else copy.deepcopy(_walk(doc, src))
            doc = _add(doc, parts, value)
        elif kind == "test":
            if _walk(doc, parts) != op.get("value"):
                raise _invalid_patch("the server rejected our request due to an error in our "
                                     f"request: testing value /{'/'.join(parts)} failed: "
                                     "test failed")
        else:
            raise bad_request(f"Unexpected kind: {kind}")
    return doc


# -- strategic merge patch (the subset kubectl and controllers send) --------------------

# Field name -> merge key, for the list fields of built-in types that merge by key.
_MERGE_KEYS = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name",
    "env": "name", "volumes": "name", "volumeMounts": "mountPath",
    "imagePullSecrets": "name", "conditions": "type", "ownerReferences": "uid",
    "hostAliases": "ip", "topologySpreadConstraints": "topologyKey", "envFrom": None,
    "volumeDevices": "devicePath", "subjects": None, "rules": None, "tolerations": None,
}
# Primitive lists that merge as sets.
_SET_LISTS = {"finalizers"}


def _ports_key(items: list[Any]) -> str | None:
    for it in items:
        if isinstance(it, dict):
            if "containerPort" in it:
                return "containerPort"
            if "port" in it:
                return "port"
    return None


def _merge_key(field: str, items: list[Any], live: list[Any]) -> str | None:
    if field == "ports":
        return _ports_key(items) or _ports_key(live)
    return _MERGE_KEYS.get(field)


def _strip_directives(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _strip_directives(x) for k, x in v.items()
                if not k.startswith("$setElementOrder/") and not k.startswith("$retainKeys")
                and not k.startswith("$deleteFromPrimitiveList/") and k != "$patch"}
    if isinstance(v, list):
        return [_strip_directives(x) for x in v]
    return v


def strategic_merge(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return _strip_directives(copy.deepcopy(patch))
    directive = patch.get("$patch")
    if directive == "delete":
        return None
    if directive == "replace":
        return _strip_directives(copy.deepcopy(patch))
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if k.startswith("$setElementOrder/") or k.startswith("$retainKeys") or k == "$patch":
            continue
        if k.startswith("$deleteFromPrimitiveList/"):
            field = k.split("/", 1)[1]
            out[field] = [x for x in out.get(field) or [] if x not in v]
            continue
        if v is None:
            out.pop(k, None)
        elif isinstance(v, list):
            out[k] = _merge_list(k, out.get(k), v)
        else:
            merged = strategic_merge(out.get(k), v)
            if merged is None:
                out.pop(k, None)
            else:
                out[k] = merged
    return out


def _merge_list(field: str, live: Any, patch: list[Any]) -> list[Any]:
    live = live if isinstance(live, list) else []
    if field in _SET_LISTS:
        return list(live) + [x for x in patch if x not in live]
    if any(isinstance(x, dict) and x.get("$patch") == "replace" for x in patch):
        return [_strip_directives(x) for x in patch
                if not (isinstance(x, dict) and x.get("$patch") == "replace")]
    key = _merge_key(field, patch, live)
    if key is None or not all(isinstance(x, dict) for x in patch):
        return _strip_directives(copy.deepcopy(patch))
    out = [dict(x) if isinstance(x, dict) else x for x in live]
    for item in patch:
        kv = item.get(key)
        idx = next((i for i, x in enumerate(out) if isinstance(x, dict) and x.get(key) == kv),
                   None)
        if item.get("$patch") == "delete":
            if idx is not None:
                out.pop(idx)
            continue
        if idx is None:
            out.append(_strip_directives(copy.deepcopy(item)))
        else:
            out[idx] = strategic_merge(out[idx], item)
    return out


# -- server-side apply (create-or-merge; no field ownership conflicts) -----------------


def apply_merge(live: Any, applied: Any, strategic: bool) -> Any:
    """Merge an applied configuration onto the live object.

    Built-in types merge lists by their strategic keys; custom resources replace lists
    atomically (their schemas' default list type)."""
    if strategic:
        return strategic_merge(live, applied)
    if not isinstance(applied, dict) or not isinstance(live, dict):
        return copy.deepcopy(applied)
    out = dict(live)
    for k, v in applied.items():
        out[k] = apply_merge(out.get(k), v, False) if isinstance(v, dict) else copy.deepcopy(v)
    return out
