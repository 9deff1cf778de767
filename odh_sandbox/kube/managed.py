"""managedFields: which field manager owns which field, and server-side apply's conflicts.

Field sets are kept as sets of paths; a path step is `f:<name>` for an object key, or
`k:{"name":"x"}` for an item of a list whose items all carry a `name` (containers, env,
ports, volumes: the associative lists kubectl's users meet); other lists are owned whole,
as atomic lists are. On the wire a set is `fieldsV1`, the nested form kube-apiserver writes.

An Update (create, replace, patch) gives its manager the fields it changed and takes them
from everyone else; an Apply owns exactly the fields of its configuration, conflicts (409)
with other managers over fields whose values it would change unless forced, and drops the
fields it stops applying when nobody else owns them.
"""
from __future__ import annotations

import json
from typing import Any, Iterator

from .errors import KubeError
from .store import now_rfc3339

Path = tuple[str, ...]
_IGNORED_META = {"name", "namespace", "uid", "resourceVersion", "creationTimestamp",
                 "generation", "managedFields", "selfLink", "deletionTimestamp",
                 "deletionGracePeriodSeconds"}


def _item_key(item: Any) -> str | None:
    if isinstance(item, dict) and isinstance(item.get("name"), str):
        return "k:" + json.dumps({"name": item["name"]}, separators=(",", ":"))
    return None


def _leaves(value: Any, path: Path) -> Iterator[Path]:
    if isinstance(value, dict) and value:
        for k, v in value.items():
            yield from _leaves(v, path + (f"f:{k}",))
    elif isinstance(value, list) and value and all(_item_key(i) for i in value):
        for item in value:
            key = _item_key(item)
            assert key is not None
            rest = {k: v for k, v in item.items() if k != "name"}
            yield path + (key,)
            yield from _leaves(rest, path + (key,)) if rest else iter(())
    else:
        yield path


def field_set(obj: dict[str, Any], skip_status: bool) -> set[Path]:
    """The paths an object (or an apply configuration) sets, identity fields left out."""
    out: set[Path] = set()
    for k, v in obj.items():
        if k in ("apiVersion", "kind") or (k == "status" and skip_status):
            continue
        if k == "metadata" and isinstance(v, dict):
            v = {mk: mv for mk, mv in v.items() if mk not in _IGNORED_META}
            if not v:
                continue
        out.update(_leaves(v, (f"f:{k}",)))
    return out


def value_at(obj: Any, path: Path) -> tuple[bool, Any]:
    cur = obj
    for step in path:
        if step.startswith("f:") and isinstance(cur, dict):
            if step[2:] not in cur:
                return False, None
            cur = cur[step[2:]]
        elif step.startswith("k:") and isinstance(cur, list):
            match = [i for i in cur if _item_key(i) == step]
            if not match:
                return False, None
            cur = {k: v for k, v in match[0].items() if k != "name"}
        else:
            return False, None
    if path and path[-1].startswith("k:"):
        return True, None  # an item's identity: owning it is about its existence
    return True, cur


def remove_path(obj: Any, path: Path) -> None:
    """Delete a path in place (obj is a private copy); empties left behind stay empty."""
    parent = obj
    for step in path[:-1]:
        found, parent = _child(parent, step)
        if not found:
            return
    last = path[-1]
    if last.startswith("f:") and isinstance(parent, dict):
        parent.pop(last[2:], None)
    elif last.startswith("k:") and isinstance(parent, list):
        parent[:] = [i for i in parent if _item_key(i) != last]


def _child(cur: Any, step: str) -> tuple[bool, Any]:
    if step.startswith("f:") and isinstance(cur, dict) and step[2:] in cur:
        return True, cur[step[2:]]
    if step.startswith("k:") and isinstance(cur, list):
        for i in cur:
            if _item_key(i) == step:
                return True, i
    return False, None


def to_fields_v1(paths: set[Path]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for path in sorted(paths):
        node = root
        for step in path:
            node = node.setdefault(step, {})
    # A node owned itself and through children carries "." (kube-apiserver's notation).
    for path in paths:
        node = root
        for step in path:
            node = node[step]
        if node:
            node["."] = {}
    return root


def from_fields_v1(fields: Any, prefix: Path = ()) -> set[Path]:
    out: set[Path] = set()
    if not isinstance(fields, dict):
        return out
    for k, v in fields.items():
        if k == ".":
            out.add(prefix)
        elif isinstance(v, dict) and any(key != "." for key in v):
            out |= from_fields_v1(v, prefix + (k,))
        else:
            out.add(prefix + (k,))
    return out


def _entries(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in (obj.get("metadata") or {}).get("managedFields") or []
            if isinstance(e, dict)]


def _entry(manager: str, operation: str, api_version: str, paths: set[Path],
           subresource: str) -> dict[str, Any]:
    e: dict[str, Any] = {"manager": manager, "operation": operation, "apiVersion": api_version,
                         "time": now_rfc3339(), "fieldsType": "FieldsV1",
                         "fieldsV1": to_fields_v1(paths)}
    if subresource:
        e["subresource"] = subresource
    return e


def _same(e: dict[str, Any], manager: str, operation: str, subresource: str) -> bool:
    return e.get("manager") == manager and e.get("operation") == operation and \
        e.get("subresource", "") == subresource


def record_update(old: dict[str, Any] | None, new: dict[str, Any], manager: str,
                  api_version: str, skip_status: bool, subresource: str = "") -> None:
    """Set new's managedFields after an Update by `manager` (new is a private copy)."""
    after = field_set(new, skip_status)
    changed = {p for p in after if value_at(old, p) != value_at(new, p)} \
        if old is not None else after
    entries = []
    mine: set[Path] = set()
    for e in _entries(old) if old is not None else []:
        if e.get("subresource", "") != subresource:
            entries.append(e)  # another subresource's fields (status) are not ours to move
            continue
        paths = from_fields_v1(e.get("fieldsV1")) & after  # removed fields are nobody's
        if _same(e, manager, "Update", subresource):
            mine = paths
            continue
        paths -= changed
        if paths:
            entries.append(dict(e, fieldsV1=to_fields_v1(paths)))
    if old is not None and not changed and after == field_set(old, skip_status):
        entries = _entries(old)  # nothing changed: nobody's ownership (or time) changes
    else:
        mine |= changed
        if mine:
            entries.append(_entry(manager, "Update", api_version, mine, subresource))
    new.setdefault("metadata", {})["managedFields"] = entries


def apply(live: dict[str, Any] | None, merged: dict[str, Any], applied: dict[str, Any],
          manager: str, api_version: str, force: bool, skip_status: bool,
          resource: str, name: str) -> dict[str, Any]:
    """The object after `manager` applies `applied` (merged = live with applied merged in):
    conflicts checked, fields the manager let go of removed, managedFields recorded."""
    mine = field_set(applied, skip_status)
    entries = _entries(live) if live is not None else []
    conflicts: list[tuple[str, str, Path]] = []
    for e in entries:
        if _same(e, manager, "Apply", ""):
            continue
        for p in sorted(from_fields_v1(e.get("fieldsV1")) & mine):
            if value_at(live, p) != value_at(applied, p):
                conflicts.append((e.get("manager", ""), e.get("apiVersion", ""), p))
    if conflicts and not force:
        raise _conflict_error(conflicts, resource, name)
    taken = {p for _, _, p in conflicts}
    out_entries = []
    previous: set[Path] = set()
    others: set[Path] = set()
    for e in entries:
        paths = from_fields_v1(e.get("fieldsV1"))
        if _same(e, manager, "Apply", ""):
            previous = paths
            continue
        paths -= taken
        others |= paths
        if paths:
            out_entries.append(dict(e, fieldsV1=to_fields_v1(paths)))
    for p in sorted(previous - mine - others, key=len, reverse=True):
        remove_path(merged, p)
    out_entries.append(_entry(manager, "Apply", api_version, mine, ""))
    if live is not None and _unchanged(entries, out_entries):
        out_entries = entries  # the same apply again: keep the times, so nothing is written
    merged.setdefault("metadata", {})["managedFields"] = out_entries
    return merged


def _unchanged(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> bool:
    def key(e: dict[str, Any]) -> tuple[str, str, str, str]:
        return (e.get("manager", ""), e.get("operation", ""), e.get("apiVersion", ""),
                json.dumps(e.get("fieldsV1"), sort_keys=True))
    return sorted(map(key, before)) == sorted(map(key, after))


def _dotted(path: Path) -> str:
    return "".join("." + s[2:] if s.startswith("f:") else f"[{s[2:]}]" for s in path)


def _conflict_error(conflicts: list[tuple[str, str, Path]], resource: str,
                    name: str) -> KubeError:
    lines = [f'conflict with "{m}"' + (f" using {v}" if v else "") + f": {_dotted(p)}"
             for m, v, p in conflicts]
    if len(lines) == 1:
        msg = f"Apply failed with 1 conflict: {lines[0]}"
    else:
        msg = f"Apply failed with {len(lines)} conflicts: " + "\n".join(lines)
    causes = [{"reason": "FieldManagerConflict",
               "message": f'conflict with "{m}"' + (f" using {v}" if v else ""),
               "field": _dotted(p)} for m, v, p in conflicts]
    return KubeError(409, msg, "Conflict", {"name": name, "kind": resource, "causes": causes})
