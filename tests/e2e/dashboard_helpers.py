"""What the dashboard browser suite shares: the odh-core config, one browser page per role,
visiting a page until it shows what it should, and the failed responses a flow expects.

The config is `plugins.dashboard.static_dir` and nothing else: the dashboard page gets its own
Content-Security-Policy by default (the API keeps the strict one).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import pytest

from .conftest import DASHBOARD_DIR, OdhProcess, PageWatch

ALICE_TOKEN = "sandbox-alice-token"
NOT_FOUND_PAGE = "We can't find that page"

Allow = Callable[[int, str, str], bool]
# What a link click does in a React Router app: push the location and tell the router.
_NAVIGATE = ("path => { window.history.pushState({}, '', path); "
             "window.dispatchEvent(new PopStateEvent('popstate', {state: {}})); }")


def dashboard_config() -> dict[str, Any]:
    return {"plugins": {"dashboard": {"static_dir": str(DASHBOARD_DIR)}}}


def _matches(*rules: tuple[int, str, str]) -> Allow:
    """(status, method, url regex) rules -> an allow predicate for PageWatch.unexpected."""
    compiled = [(status, method, re.compile(pattern)) for status, method, pattern in rules]
    return lambda status, method, url: any(
        status == s and method == m and rx.search(url) for s, m, rx in compiled)


# Answers the stock frontend asks for and handles, whoever is signed in: a project without a
# pipeline server has no `ds-pipeline-config` Secret.
ALWAYS = _matches((404, "GET", r"/api/k8s/api/v1/namespaces/[^/]+/secrets/ds-pipeline-config$"))
# The Jupyter tile before the user's first start: no notebook, env objects or image-pullers
# binding yet (the page reads each, expects 404 and creates what it needs on start).
BEFORE_FIRST_START = _matches(
    (404, "GET", r"/api/notebooks/[^/]+/jupyter-nb-[^/]+/status$"),
    (404, "GET", r"/api/rolebindings/[^/]+/[^/]+-image-pullers$"),
    (404, "GET", r"/api/envs/(configmap|secret)/[^/]+/jupyterhub-singleuser-profile-.+-envs$"))
# After a start: no notebook controller runs in a sandbox, so the notebook's Route never
# appears; a plain user may not list the notebook namespace's events (as on a real cluster,
# where the old backend answered the same 403); the page first asks with an empty name.
AFTER_START = _matches(
    (404, "GET", r"/api/route/[^/]+/jupyter-nb-[^/]+$"),
    (403, "GET", r"/api/k8s/api/v1/(namespaces/[^/]+/)?events\?fieldSelector="))
# The stock page leaves that Route's 404 unhandled (useGetNotebookRoute): a page error that
# only a running notebook controller would avoid.
ROUTE_404_PAGE_ERROR = "Request failed with status code 404"


def either(*allows: Allow) -> Allow:
    return lambda status, method, url: any(a(status, method, url) for a in allows)


@dataclass
class Dash:
    """One role's browser page on one odh-core, with what it saw."""

    proc: OdhProcess
    page: Any
    watch: PageWatch
    frames: list[str] = field(default_factory=list)   # WebSocket frames received
    tour_seen: bool = False
    in_flight: set[Any] = field(default_factory=set)   # HTTP requests not answered yet

    def goto(self, path: str) -> None:
        """Open `path`: a full page load the first time, then in-app navigation (the router
        follows history changes, as when a user clicks a link) - no reboot of the app."""
        self.watch.clear()
        if not self.tour_seen:
            self.page.goto(self.proc.url(path))
        else:
            self.page.evaluate(_NAVIGATE, path)
        self.dismiss_tour()

    def dismiss_tour(self) -> None:
        """The "What's new" tour opens on the first visit of a browser profile; skip it (the
        page remembers that in local storage)."""
        if not self.tour_seen:
            self.page.get_by_test_id("whats-new-skip-tour").click()
            self.tour_seen = True

    def text(self, needle: str, timeout: float = 30_000) -> None:
        """Wait until the page shows `needle` (a row, a name, a heading)."""
        self.page.get_by_text(needle, exact=False).first.wait_for(timeout=timeout)

    def settle(self, quiet_ms: int = 500, limit_ms: int = 10_000) -> None:
        """Let the page's remaining requests finish (none in flight for `quiet_ms`) before
        judging its responses; WebSockets stay open and do not count."""
        waited = quiet = 0
        while quiet < quiet_ms and waited < limit_ms:
            self.page.wait_for_timeout(100)
            waited += 100
            quiet = quiet + 100 if not self.in_flight else 0

    def assert_clean(self, allow: Allow = ALWAYS, page_errors: tuple[str, ...] = ()) -> None:
        self.settle()
        unexpected = self.watch.unexpected(either(ALWAYS, allow))
        assert not unexpected, f"unexpected failed responses: {unexpected}"
        errors = [e for e in self.watch.page_errors if not any(p in e for p in page_errors)]
        assert not errors, f"page errors: {errors}"
        body = self.page.locator("body").inner_text()
        assert "An error occurred" not in body, body[:500]


def open_dash(browser: Any, proc: OdhProcess, headers: dict[str, str] | None = None) -> Dash:
    """A browser context + page for one role, recording failures and WebSocket frames."""
    ctx = browser.new_context(extra_http_headers=headers or {},
                              viewport={"width": 1400, "height": 900})
    ctx.set_default_timeout(30_000)
    page = ctx.new_page()
    watch = PageWatch()
    dash = Dash(proc, page, watch)
    page.on("response", lambda r: watch.failed.append((r.status, r.request.method, r.url))
            if r.status >= 400 else None)
    page.on("request", lambda r: dash.in_flight.add(r))
    page.on("requestfinished", lambda r: dash.in_flight.discard(r))
    page.on("requestfailed", lambda r: dash.in_flight.discard(r))
    page.on("pageerror", lambda e: watch.page_errors.append(str(e)))
    page.on("console", lambda m: watch.console_errors.append(m.text)
            if m.type == "error" else None)

    def on_socket(ws: Any) -> None:
        watch.websockets.append(ws)
        ws.on("framereceived", lambda payload: dash.frames.append(
            payload if isinstance(payload, str) else payload.decode(errors="replace")))

    page.on("websocket", on_socket)
    return dash


# Module-scoped fixtures: a test module imports them, and gets one odh-core and one browser
# page per role for all its tests (each module its own, so flows cannot disturb page checks).
@pytest.fixture(scope="module")
def admin(odh_process: Callable[..., OdhProcess], browser: Any) -> Iterator[Dash]:
    """The admin, by dev auth (requests without a token act as `admin`)."""
    dash = open_dash(browser, odh_process(dashboard_config(), dev=True))
    yield dash
    dash.page.context.close()


@pytest.fixture(scope="module")
def alice(odh_process: Callable[..., OdhProcess], browser: Any) -> Iterator[Dash]:
    """alice, a plain user, by her token on every request (dev auth off)."""
    dash = open_dash(browser, odh_process(dashboard_config()),
                     {"Authorization": f"Bearer {ALICE_TOKEN}"})
    yield dash
    dash.page.context.close()
