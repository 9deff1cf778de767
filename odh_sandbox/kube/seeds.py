"""Loading `conf/sandbox/`: every *.yaml (multi-document) plus the static token file.

Order is deterministic whatever files other teams add: files by name, then a stable sort
that puts CustomResourceDefinitions first (their kinds must exist before their objects),
Namespaces second, everything else after.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .authn import read_token_file
from .ops import Api
from .rbac import UserInfo
from .store import NS_KEY

TOKEN_FILE = "tokens.csv"


def default_seed_dir() -> Path:
    # odh_sandbox/kube/seeds.py -> repo root / conf / sandbox
    return Path(__file__).resolve().parents[2] / "conf" / "sandbox"


@dataclass
class Seeds:
    objects: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (file, doc)
    tokens: list[tuple[str, UserInfo]] = field(default_factory=list)


def _rank(doc: dict[str, Any]) -> int:
    kind = doc.get("kind")
    if kind == "CustomResourceDefinition":
        return 0
    if kind == "Namespace":
        return 1
    return 2


def read_seed_dir(directory: Path) -> Seeds:
    """Blocking file IO: call it off the event loop."""
    seeds = Seeds()
    if not directory.is_dir():
        return seeds
    for path in sorted(directory.glob("*.yaml")) + sorted(directory.glob("*.yml")):
        with path.open() as fh:
            for doc in yaml.safe_load_all(fh):
                if not doc:
                    continue
                if not isinstance(doc, dict) or "kind" not in doc:
                    raise ValueError(f"{path}: every document must be a Kubernetes object")
                if doc["kind"].endswith("List") and isinstance(doc.get("items"), list):
                    seeds.objects.extend((path.name, d) for d in doc["items"] if d)
                else:
                    seeds.objects.append((path.name, doc))
    seeds.objects.sort(key=lambda fd: _rank(fd[1]))  # stable: file order kept within a rank
    token_file = directory / TOKEN_FILE
    if token_file.exists():
        seeds.tokens = read_token_file(token_file)
    return seeds


def apply_seed_objects(api: Api, seeds: Seeds) -> None:
    """Store the seed objects directly (no RBAC; a given status is kept, as in a restore)."""
    store = api.store
    ns_rt = store.registry.types[NS_KEY]
    for fname, doc in seeds.objects:
        rt = store.registry.by_kind(doc.get("apiVersion", ""), doc["kind"])
        if rt is None or rt.virtual:
            raise ValueError(f"{fname}: no served type for {doc.get('apiVersion')} "
                             f"{doc['kind']} (is its CRD in the seed dir?)")
        obj = copy.deepcopy(doc)
        obj["apiVersion"] = rt.api_version(rt.versions[0])
        meta = obj.setdefault("metadata", {})
        status = obj.get("status")
        if rt.namespaced:
            ns = meta.setdefault("namespace", "default")
            if store.get(ns_rt, "", ns) is None:
                store.create(ns_rt, _namespace(api, ns))
        else:
            meta.pop("namespace", None)
        api._validate(rt, obj)
        if store.get(rt, meta.get("namespace", ""), meta["name"]) is not None:
            raise ValueError(f"{fname}: duplicate seed object {doc['kind']} "
                             f"{meta.get('namespace', '')}/{meta['name']}")
        api._prepare_create(rt, obj)
        api._normalise(rt, obj)
        if status is not None and rt.key != NS_KEY:
            obj["status"] = status
        store.create(rt, obj)


def _namespace(api: Api, name: str) -> dict[str, Any]:
    obj: dict[str, Any] = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    api._prepare_create(api.store.registry.types[NS_KEY], obj)
    return obj
