"""Issue 18 item 4 in a real browser: the browser carries ambient credentials (here dev auth;
in production oauth-proxy's cookie), so what decides is what Chromium itself sends (Origin,
Sec-Fetch-Site). A same-origin page changes state; a page on another host cannot, whether it
posts a form, fetches without CORS or loads an image from a state-changing GET route."""
from __future__ import annotations

import json
import uuid
from typing import Any, Callable

import pytest

from .conftest import OdhProcess, PageWatch

NS = "alice-project"


@pytest.mark.timeout(120)
def test_cross_site_pages_cannot_change_state(odh_process: Callable[..., OdhProcess],
                                              new_page: Callable[..., tuple[Any, PageWatch]]
                                              ) -> None:
    proc = odh_process({}, dev=True)
    configmaps = f"/api/k8s/api/v1/namespaces/{NS}/configmaps"
    page, watch = new_page()

    # The app's own origin: a JSON POST as the stock frontends send it.
    page.goto(proc.url("/api/health"))
    ok_name = f"same-{uuid.uuid4().hex[:6]}"
    status = page.evaluate("""async ([url, name]) => (await fetch(url, {method: 'POST',
        headers: {'Content-Type': 'application/json'},
        body: JSON.stringify({apiVersion: 'v1', kind: 'ConfigMap', metadata: {name}})})).status
    """, [configmaps, ok_name])
    assert status == 201

    # Another site (a different host name on the same machine) tries the same three ways.
    evil_name = f"evil-{uuid.uuid4().hex[:6]}"
    target = proc.url(configmaps)
    page.goto(proc.url("/api/health", host="evil.localhost"))
    page.evaluate("""async ([url, body]) => {
        await fetch(url, {method: 'POST', mode: 'no-cors', body,
                          headers: {'Content-Type': 'text/plain'}}).catch(() => null);
    }""", [target, json.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                               "metadata": {"name": evil_name}})])
    with page.expect_navigation():
        page.evaluate("""([url, body]) => {
            const form = document.createElement('form');
            form.method = 'POST'; form.action = url; form.enctype = 'text/plain';
            const input = document.createElement('input');
            input.name = body; input.value = '';
            form.appendChild(input); document.body.appendChild(form); form.submit();
        }""", [target, json.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                                   "metadata": {"name": evil_name + "-form"}})])
    assert "cross-site request refused" in page.content()
    # A link to a state-changing GET route (label a project for a dashboard use).
    page.goto(proc.url("/api/health", host="evil.localhost"))
    with page.expect_navigation():
        page.evaluate("""(url) => { const a = document.createElement('a'); a.href = url;
                                    document.body.appendChild(a); a.click(); }""",
                      proc.url(f"/api/namespaces/{NS}/1"))
    assert "cross-site request refused" in page.content()

    page.goto(proc.url("/api/health"))
    for name in (evil_name, evil_name + "-form"):
        status = page.evaluate("async (url) => (await fetch(url)).status",
                               f"{configmaps}/{name}")
        assert status == 404, name  # nothing was created
    status = page.evaluate("async (url) => (await fetch(url)).status", f"{configmaps}/{ok_name}")
    assert status == 200
