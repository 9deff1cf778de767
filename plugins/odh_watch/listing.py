"""A paginated list of a watch target: the starting state an informer builds on."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from odh_core import KubeClient, KubeError

from .resources import Target
from .upstream import Denied

PAGE = 500


class ListFailed(Exception):
    """A transient failure (API server down, 5xx, an expired continue token): retry later."""


@dataclass
class Listing:
    rv: str
    kind: str                    # of the items (the list's kind minus "List")
    api_version: str
    items: list[dict[str, Any]]


async def list_target(kube: KubeClient, target: Target, token: Any) -> Listing:
    items: list[dict[str, Any]] = []
    params: dict[str, str] = {"limit": str(PAGE), **target.selector_params()}
    while True:
        try:
            page = await kube.json("GET", target.collection_path, token=token, params=params)
        except KubeError as exc:
            if exc.status in (400, 401, 403, 404):
                raise Denied(exc.status, exc.message) from None
            raise ListFailed(f"list answered {exc.status}") from None
        items.extend(page.get("items") or [])
        cont = (page.get("metadata") or {}).get("continue")
        if not cont:
            kind = str(page.get("kind") or "")
            kind = kind[:-4] if kind.endswith("List") else kind
            api_version = str(page.get("apiVersion") or "")
            for item in items:  # list items carry no kind/apiVersion; watch events do
                item.setdefault("kind", kind)
                item.setdefault("apiVersion", api_version)
            return Listing(str((page.get("metadata") or {}).get("resourceVersion") or ""),
                           kind, api_version, items)
        params["continue"] = cont
