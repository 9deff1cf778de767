"""Label and field selectors with kube-apiserver's grammar and error messages."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

from .errors import KubeError, bad_request

_KEY = r"[A-Za-z0-9][-A-Za-z0-9_./]*"
_VAL = r"[-A-Za-z0-9_.]*"
_SET_RE = re.compile(rf"^\s*(!?)\s*({_KEY})\s*(?:(in|notin)\s*\((.*)\))?\s*$")
_CMP_RE = re.compile(rf"^\s*({_KEY})\s*(==|=|!=|>|<)\s*({_VAL})\s*$")


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str                 # in notin exists !exists gt lt
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        has = self.key in labels
        if self.op == "exists":
            return has
        if self.op == "!exists":
            return not has
        if self.op == "in":
            return has and labels[self.key] in self.values
        if self.op == "notin":
            return not has or labels[self.key] not in self.values
        if not has:
            return False
        try:
            lv, rv = int(labels[self.key]), int(self.values[0])
        except ValueError:
            return False
        return lv > rv if self.op == "gt" else lv < rv


def _split_top(text: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


def parse_label_selector(text: str | None) -> list[Requirement]:
    if not text or not text.strip():
        return []
    reqs: list[Requirement] = []
    for part in _split_top(text):
        m = _CMP_RE.match(part)
        if m:
            key, op, val = m.groups()
            ops = {"=": "in", "==": "in", "!=": "notin", ">": "gt", "<": "lt"}
            reqs.append(Requirement(key, ops[op], (val,)))
            continue
        m = _SET_RE.match(part)
        if m and not (m.group(1) and m.group(3)):
            neg, key, setop, vals = m.groups()
            if setop:
                values = tuple(v.strip() for v in vals.split(",") if v.strip())
                reqs.append(Requirement(key, setop, values))
            else:
                reqs.append(Requirement(key, "!exists" if neg else "exists"))
            continue
        raise bad_request(f"unable to parse requirement: found '{part.strip()}', "
                          "expected: in, notin, =, ==, !=, gt, lt")
    return reqs


def label_selector_from_dict(sel: dict[str, Any] | None) -> list[Requirement] | None:
    """A metav1.LabelSelector (matchLabels/matchExpressions); None selects nothing."""
    if sel is None:
        return None
    reqs = [Requirement(k, "in", (str(v),)) for k, v in (sel.get("matchLabels") or {}).items()]
    opmap = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!exists"}
    for e in sel.get("matchExpressions") or []:
        reqs.append(Requirement(e["key"], opmap[e["operator"]], tuple(e.get("values") or ())))
    return reqs


def labels_match(reqs: list[Requirement], obj: dict[str, Any]) -> bool:
    if not reqs:
        return True
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return all(r.matches(labels) for r in reqs)


# Field selectors: which fields each kind supports (kube-apiserver rejects the rest).
_COMMON = ("metadata.name", "metadata.namespace")
_EXTRA: dict[str, tuple[str, ...]] = {
    "Pod": ("status.phase", "spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
            "spec.serviceAccountName", "status.podIP", "status.nominatedNodeName"),
    "Secret": ("type",),
    "Namespace": ("status.phase",),
    "Event": ("involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
              "involvedObject.uid", "involvedObject.apiVersion",
              "involvedObject.resourceVersion", "involvedObject.fieldPath", "reason",
              "reportingComponent", "source", "type"),
    "Job": ("status.successful",),
}


@dataclass(frozen=True)
class FieldRequirement:
    path: str
    value: str
    negate: bool


def _get_path(obj: dict[str, Any], path: str) -> str:
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(part)
    if cur is None:
        return ""
    return str(cur)


def parse_field_selector(text: str | None, kind: str) -> list[FieldRequirement]:
    if not text or not text.strip():
        return []
    allowed = _COMMON + _EXTRA.get(kind, ())
    out: list[FieldRequirement] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        m = re.match(r"^([^=!]+?)\s*(==|=|!=)\s*(.*)$", part)
        if not m:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{part}'")
        path, op, value = m.groups()
        if path not in allowed:
            raise bad_request(f'field label not supported: {path}')
        out.append(FieldRequirement(path, value, op == "!="))
    return out


def fields_match(reqs: list[FieldRequirement], obj: dict[str, Any]) -> bool:
    for r in reqs:
        if (_get_path(obj, r.path) == r.value) == r.negate:
            return False
    return True


def make_filter(label_sel: str | None, field_sel: str | None,
                kind: str) -> Callable[[dict[str, Any]], bool] | None:
    """One predicate for both selectors; None when nothing is selected (the fast path)."""
    lreqs = parse_label_selector(label_sel)
    freqs = parse_field_selector(field_sel, kind)
    if not lreqs and not freqs:
        return None
    return lambda obj: labels_match(lreqs, obj) and fields_match(freqs, obj)


__all__ = ["KubeError", "Requirement", "parse_label_selector", "label_selector_from_dict",
           "labels_match", "parse_field_selector", "fields_match", "make_filter"]
