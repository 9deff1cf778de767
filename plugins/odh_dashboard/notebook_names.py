"""The names of a user's Jupyter-tile objects and the rule for who may act on them.

The notebook namespace is shared by every user, and plain users hold no rights in it: odh-core's
SERVICE ACCOUNT reads and writes there, but only

- objects whose name is derived from the CALLER's exact username (below), and
- objects that are new, or whose owner annotation `opendatahub.io/username` is exactly the
  caller: an object at the caller's name that someone else made is never adopted (409).

Names: the old backend's translation (`usernameTranslate`: percent-encoding of every
non-alphanumeric character, `%` -> `-`, then lower case) collides only through that lower-casing
(`Alice` and `alice`) and through its `~` -> `%7f` slip (the code of DEL). Usernames it keeps
apart (no upper case, no `~`, no DEL) keep the old names, so existing notebooks and the stock
frontend's own computation (`jupyter-nb-<translated>`) still line up. Others get
`<translated>--<first 12 hex of sha256(username)>`: the old translation never writes `--` (each
`-` starts a two-hex-digit escape), so a suffixed key never equals an unsuffixed one, and two
suffixed keys are equal only when both the translations and the hashes are.

The stock frontend asks for the OLD name of the caller's objects (`/api/notebooks/<ns>/
jupyter-nb-<translated>/status`); such a request is answered with the caller's own object
under its injective name.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from odh_core import ApiError

from .names import check_subdomain

OWNER_ANNOTATION = "opendatahub.io/username"
_HASH_CHARS = 12


def username_translate(username: str) -> str:
    """The old backend's usernameTranslate: encodeURIComponent, a few more characters
    escaped, `%` -> `-`, lower case (so `kube:admin` -> `kube-3aadmin`)."""
    enc = quote(username, safe="!'()*-._~")
    for ch, rep in (("!", "%21"), ("'", "%27"), ("(", "%28"), (")", "%29"), ("*", "%2a"),
                    ("-", "%2d"), (".", "%2e"), ("_", "%5f"), ("~", "%7f")):
        enc = enc.replace(ch, rep)
    return enc.replace("%", "-").lower()


def user_key(username: str) -> str:
    """The injective form of `username` used in object names (see the module docstring)."""
    translated = username_translate(username)
    if username == username.lower() and "~" not in username and "\x7f" not in username:
        return translated
    digest = hashlib.sha256(username.encode()).hexdigest()[:_HASH_CHARS]
    return f"{translated}--{digest}"


@dataclass(frozen=True)
class NotebookNames:
    """Object names of one user's notebook; `user` is the old translation, used where the
    stock frontend compares it (URLs, the `opendatahub.io/user` label)."""

    username: str
    user: str
    notebook: str
    pvc: str
    env: str
    role: str

    def owns(self, obj: dict[str, Any]) -> bool:
        annotations = (obj.get("metadata") or {}).get("annotations") or {}
        return annotations.get(OWNER_ANNOTATION) == self.username

    def check_owner(self, obj: dict[str, Any], what: str) -> dict[str, Any]:
        """`obj` if it is this user's; 409 otherwise (never adopt another's object)."""
        if not self.owns(obj):
            name = (obj.get("metadata") or {}).get("name")
            raise ApiError(409, f"{what} {name!r} exists but does not belong to "
                           f"{self.username!r} (annotation {OWNER_ANNOTATION}); it is not "
                           "used. Ask an administrator to remove it.")
        return obj

    def resolve(self, requested: str, what: str) -> str | None:
        """The real name of the caller's own `what` ("notebook" or "env") when `requested` is
        its old or its injective name; else None."""
        legacy = names_for(self.username, legacy=True)
        mine = str(getattr(self, what))
        return mine if requested in (mine, str(getattr(legacy, what))) else None


def names_for(username: str, legacy: bool = False) -> NotebookNames:
    user = username_translate(username)
    key = user if legacy else user_key(username)
    out = NotebookNames(username=username, user=user, notebook=f"jupyter-nb-{key}",
                        pvc=f"jupyterhub-nb-{key}-pvc",
                        env=f"jupyterhub-singleuser-profile-{key}-envs",
                        role=f"jupyter-nb-{key}-notebook-view")
    if not legacy:
        for name in (out.notebook, out.pvc, out.env, out.role):
            check_subdomain(name, "generated name")
    return out


def owner_meta(names: NotebookNames, name: str, ns: str | None = None) -> dict[str, Any]:
    """`metadata` of an object odh-core creates for the user: stamped with its owner."""
    meta: dict[str, Any] = {"name": name, "labels": {"opendatahub.io/dashboard": "true"},
                            "annotations": {OWNER_ANNOTATION: names.username}}
    if ns is not None:
        meta["namespace"] = ns
    return meta
