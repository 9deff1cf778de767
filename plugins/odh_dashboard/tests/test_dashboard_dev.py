"""/api/dev-impersonate in dev mode: a per-browser-session switch to the dev impersonation user.
(Outside dev mode the route does not exist: see test_dashboard_status_config.py.)"""
from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def odh_config(odh_base_config: dict[str, Any], dash_ns: str,
               tokens: dict[str, str]) -> dict[str, Any]:
    return {**odh_base_config,
            "kubernetes": {**odh_base_config["kubernetes"], "dashboard_namespace": dash_ns},
            "auth": {"mode": "dev", "dev_user": "admin", "dev_users": {
                u: {"username": u, "token": tokens[u]} for u in ("admin", "alice")}}}


def cookie_from(resp) -> str:
    raw = resp.headers.get_list("Set-Cookie")
    assert raw, "no cookie set"
    return raw[0].split(";", 1)[0]


async def status(server, cookie: str | None = None) -> dict[str, Any]:
    resp = await server.fetch("/api/status", headers={"Cookie": cookie} if cookie else None)
    assert resp.status == 200, resp.text
    return resp.json()["kube"]


async def test_impersonation_is_per_session(odh_server):
    before = await status(odh_server)
    assert before["userName"] == "admin" and before["isImpersonating"] is False

    resp = await odh_server.fetch("/api/dev-impersonate", "POST", json={"impersonate": True})
    assert resp.status == 200, resp.text
    assert resp.json() == {"impersonate": True, "user": "alice"}
    session = cookie_from(resp)
    me = await status(odh_server, session)
    assert me["userName"] == "alice" and me["isImpersonating"] is True and me["isAdmin"] is False

    # Another browser session (no cookie) is still the dev user: nothing process-wide changed.
    other = await status(odh_server)
    assert other["userName"] == "admin" and other["isImpersonating"] is False
    # A request with its own token is that token's user, cookie or not.
    resp = await odh_server.fetch("/api/status", user="admin", headers={"Cookie": session})
    assert resp.json()["kube"]["userName"] == "admin"

    resp = await odh_server.fetch("/api/dev-impersonate", "POST", json={"impersonate": False},
                                  headers={"Cookie": session})
    assert resp.status == 200 and resp.json()["impersonate"] is False
    cleared = cookie_from(resp)
    assert cleared.split("=", 1)[1].strip('"') == ""
    assert (await status(odh_server, cleared or None))["userName"] == "admin"


async def test_forged_cookie_is_ignored(odh_server):
    me = await status(odh_server, 'odh-dev-user="alice"')
    assert me["userName"] == "admin" and me["isImpersonating"] is False


async def test_bad_body(odh_server):
    resp = await odh_server.fetch("/api/dev-impersonate", "POST", json={"impersonate": "yes"})
    assert resp.status == 400
