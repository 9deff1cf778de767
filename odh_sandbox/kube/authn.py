"""Bearer-token authentication: a static token file plus service-account tokens.

The static file has kube-apiserver's `--token-auth-file` format:
    token,user,uid,"group1,group2"
Service-account tokens come from Secrets of type kubernetes.io/service-account-token (the
legacy token secrets, so seeds can name a stable token) and from the TokenRequest API.
"""
from __future__ import annotations

import base64
import csv
import secrets as pysecrets
from dataclasses import dataclass, field
from pathlib import Path

from .rbac import AUTHENTICATED, SA_PREFIX, UserInfo
from .store import Event, Store

SA_TOKEN_TYPE = "kubernetes.io/service-account-token"


def sa_user(namespace: str, name: str, uid: str = "") -> UserInfo:
    return UserInfo(f"{SA_PREFIX}{namespace}:{name}",
                    ("system:serviceaccounts", f"system:serviceaccounts:{namespace}",
                     AUTHENTICATED), uid)


def read_token_file(path: Path) -> list[tuple[str, UserInfo]]:
    out: list[tuple[str, UserInfo]] = []
    with path.open(newline="") as fh:
        for row in csv.reader(fh):
            if not row or row[0].strip().startswith("#") or len(row) < 2:
                continue
            token, user = row[0].strip(), row[1].strip()
            uid = row[2].strip() if len(row) > 2 else ""
            groups = [g.strip() for g in row[3].split(",")] if len(row) > 3 and row[3] else []
            if AUTHENTICATED not in groups:
                groups.append(AUTHENTICATED)
            out.append((token, UserInfo(user, tuple(groups), uid)))
    return out


@dataclass
class TokenAuthenticator:
    store: Store
    static: dict[str, UserInfo] = field(default_factory=dict)
    # token -> user, maintained from Secret events and TokenRequests
    _sa_tokens: dict[str, UserInfo] = field(default_factory=dict)
    _secret_tokens: dict[tuple[str, str], str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.store.subscribe(self._on_event)

    def close(self) -> None:
        self.store.unsubscribe(self._on_event)

    def add_static(self, token: str, user: UserInfo) -> None:
        self.static[token] = user

    def authenticate(self, token: str) -> UserInfo | None:
        return self.static.get(token) or self._sa_tokens.get(token)

    def issue_sa_token(self, namespace: str, name: str, uid: str) -> str:
        token = "sandbox-sa-" + pysecrets.token_urlsafe(24)
        self._sa_tokens[token] = sa_user(namespace, name, uid)
        return token

    def tokens_for(self, username: str) -> list[str]:
        out = [t for t, u in self.static.items() if u.username == username]
        out += [t for t, u in self._sa_tokens.items() if u.username == username]
        return out

    def _on_event(self, ev: Event) -> None:
        if ev.key == ("", "secrets"):
            meta = ev.obj["metadata"]
            skey = (meta.get("namespace", ""), meta["name"])
            old = self._secret_tokens.pop(skey, None)
            if old:
                self._sa_tokens.pop(old, None)
            if ev.type != "DELETED" and ev.obj.get("type") == SA_TOKEN_TYPE:
                self._index_secret(ev.obj, skey)
        elif ev.key == ("", "serviceaccounts") and ev.type == "DELETED":
            meta = ev.obj["metadata"]
            user = f"{SA_PREFIX}{meta.get('namespace')}:{meta['name']}"
            for t in [t for t, u in self._sa_tokens.items() if u.username == user]:
                del self._sa_tokens[t]

    def _index_secret(self, secret: dict, skey: tuple[str, str]) -> None:
        ann = secret["metadata"].get("annotations") or {}
        sa_name = ann.get("kubernetes.io/service-account.name")
        raw = (secret.get("data") or {}).get("token")
        token = None
        if raw:
            try:
                token = base64.b64decode(raw).decode()
            except ValueError:
                token = None
        token = token or (secret.get("stringData") or {}).get("token")
        if sa_name and token:
            self._secret_tokens[skey] = token
            self._sa_tokens[token] = sa_user(skey[0], sa_name,
                                             ann.get("kubernetes.io/service-account.uid", ""))
