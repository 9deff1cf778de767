"""The harness itself and serving both stock bundles at once: one odh-core, each frontend at the
root of its own host name (`plugins.s3.host`), each with its own Content-Security-Policy, and
Chromium runs both (no CSP violation, no page error from either app's own code)."""
from __future__ import annotations

from typing import Any, Callable

import pytest

from .conftest import DASHBOARD_DIR, TEC_DIR, OdhProcess, PageWatch


def csp_violations(watch: PageWatch) -> list[str]:
    return [c for c in watch.console_errors if "Content Security Policy" in c or "Refused to" in c]


@pytest.mark.timeout(180)
def test_both_frontends_on_their_own_hosts(odh_process: Callable[..., OdhProcess],
                                           new_page: Callable[..., tuple[Any, PageWatch]]
                                           ) -> None:
    proc = odh_process({"plugins": {"dashboard": {"static_dir": str(DASHBOARD_DIR)},
                                    "s3": {"static_dir": str(TEC_DIR),
                                           "host": "tec.localhost"}}}, dev=True)
    tec, tec_watch = new_page()
    resp = tec.goto(proc.url("/", host="tec.localhost"))
    assert "cdn.jsdelivr.net" in resp.headers["content-security-policy"]
    tec.wait_for_selector("text=S3 Objects Browser", timeout=30_000)
    assert not tec_watch.page_errors and not csp_violations(tec_watch)

    dash, dash_watch = new_page()
    resp = dash.goto(proc.url("/", host="dashboard.localhost"))
    assert "'unsafe-eval'" in resp.headers["content-security-policy"]
    assert "console.redhat.com" not in resp.headers["content-security-policy"]  # no key seeded
    # The app boots under its policy: the masthead and navigation render (what each page then
    # shows depends on the sandbox cluster: the dashboard suite checks that).
    dash.get_by_role("navigation").get_by_text("Settings").first.wait_for(timeout=60_000)
    assert not csp_violations(dash_watch), csp_violations(dash_watch)
    # Both apps call <origin>/api: each host reaches its own API family.
    assert tec.evaluate("fetch('/api/buckets').then(r => r.status)") == 200
    assert dash.evaluate("fetch('/api/status').then(r => r.status)") == 200
    assert not [f for f in tec_watch.failed if "/api/" in f[2]]
