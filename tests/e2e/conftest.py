"""The stock frontends (../shared/frontends) served by a real odh-core, driven in Chromium.

Real parts only: odh-core runs as its own process (`odh-core serve --sandbox`, so the embedded
API server, moto's S3 and the sandbox hub back it), and Debian's Chromium is driven through
playwright's sync API. When the built frontends are absent (a fresh clone on its own) or
Chromium is not installed, the whole directory is skipped and says why.

Helpers here:
- `OdhProcess` / `odh_process`: start odh-core with a config dict (deep-merged over sandbox
  defaults) and optional `--dev`; `url(host=...)` builds a URL for a host name. Host names
  under `.localhost` resolve to loopback in Chromium without any DNS (each frontend may own
  one: `plugins.s3.host: tec.localhost`). `api(path, method, body)` is one JSON call outside
  the browser, to seed or read back state. Start one per module (a module-scoped fixture),
  not per test: the factory is session-scoped and stops them all at the end.
- `browser`: one Chromium per test module; `new_page(...)` gives a page with a `PageWatch`
  recording every response >= 400, page errors and console errors; `watch.problems(allow)`
  lists what a user would call broken minus what the flow expects.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import yaml

from odh_core.testing import clean_env, wait_ready

REPO = Path(__file__).resolve().parents[2]
FRONTENDS = Path(os.environ.get("ODH_FRONTENDS", REPO.parent / "shared" / "frontends"))
DASHBOARD_DIR = FRONTENDS / "odh-dashboard"
TEC_DIR = FRONTENDS / "odh-tec"
CHROMIUM = os.environ.get("ODH_CHROMIUM", "/usr/bin/chromium")

# Flags that keep Chromium off the (closed) network and working as root in a container.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-dev-shm-usage"]


def _skip_reason() -> str | None:
    if not (DASHBOARD_DIR / "index.html").is_file() or not (TEC_DIR / "index.html").is_file():
        return f"the built stock frontends are not at {FRONTENDS} (../shared/frontends)"
    if not Path(CHROMIUM).exists():
        return f"Chromium is not installed at {CHROMIUM} (apt-get install -y chromium)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "playwright is not installed (the test extra)"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = _skip_reason()
    if reason is None:
        return
    marker = pytest.mark.skip(reason=reason)
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(marker)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


@dataclass
class OdhProcess:
    """odh-core serving in a child process on a loopback port."""

    config: dict[str, Any]
    workdir: Path
    dev: bool = False
    env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    def start(self, timeout: float = 60) -> "OdhProcess":
        self.port = self.port or free_port()
        cfg = self.workdir / "odh.yaml"
        cfg.write_text(yaml.safe_dump(self.config))
        self.log_path = self.workdir / "odh-core.log"
        args = [sys.executable, "-m", "odh_core", "serve", "--config", str(cfg), "--sandbox",
                "--host", "127.0.0.1", "--port", str(self.port)]
        if self.dev:
            args.append("--dev")
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(args, cwd=self.workdir, env=clean_env(self.env),
                                         stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_ready(self.proc, f"http://127.0.0.1:{self.port}", self.log, timeout)
        except RuntimeError:
            self.stop()
            raise
        return self

    def url(self, path: str = "/", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def api(self, path: str, method: str = "GET", body: Any = None, *,
            headers: dict[str, str] | None = None, timeout: float = 30) -> tuple[int, Any]:
        """One JSON call to the server, outside the browser (to seed or read back state):
        (status, parsed body or raw text). Without a token, dev auth acts as the dev user."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url(path), data=data, method=method, headers={
            **({"Content-Type": "application/json"} if data is not None else {}),
            **(headers or {})})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode(errors="replace")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-20000:] if self.log_path else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@pytest.fixture(scope="session")
def odh_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., OdhProcess]]:
    """Factory: odh_process(config={...}, dev=False, env={...}) -> a started OdhProcess."""
    started: list[OdhProcess] = []

    def start(config: dict[str, Any] | None = None, *, dev: bool = False,
              env: dict[str, str] | None = None) -> OdhProcess:
        workdir = tmp_path_factory.mktemp("odh-e2e")
        base = {"sandbox": {"state_dir": str(workdir / "state")}}
        proc = OdhProcess(_merge(base, config or {}), workdir, dev=dev, env=env or {})
        started.append(proc)
        return proc.start()

    yield start
    for proc in started:
        proc.stop()


@dataclass
class PageWatch:
    """What a page did that a user would call broken."""

    failed: list[tuple[int, str, str]] = field(default_factory=list)  # (status, method, url)
    page_errors: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    websockets: list[Any] = field(default_factory=list)

    def unexpected(self, allow: Callable[[int, str, str], bool] = lambda *_: False
                   ) -> list[tuple[int, str, str]]:
        return [f for f in self.failed if not allow(*f)]

    def problems(self, allow: Callable[[int, str, str], bool] = lambda *_: False,
                 console_allow: Callable[[str], bool] = lambda _: False) -> list[str]:
        """Everything a user would call broken, minus what the flow expects: responses >= 400
        not allowed, page errors, console errors not allowed (a browser logs each failed load
        as a console error too: those are judged above, by status, and dropped here)."""
        out = [f"HTTP {s} {m} {u}" for s, m, u in self.unexpected(allow)]
        out += [f"page error: {e}" for e in self.page_errors]
        out += [f"console: {c}" for c in self.console_errors if not console_allow(c)
                and not c.startswith("Failed to load resource: the server responded")]
        return out

    def clear(self) -> None:
        self.failed.clear()
        self.page_errors.clear()
        self.console_errors.clear()


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    # Per package (tests/e2e), not per session: while playwright's sync API is started, its
    # event loop counts as running in this thread, and every async test collected after
    # tests/e2e (tests/fuzz, plugins/...) would fail with "cannot be called from a running loop".
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    yield b
    b.close()
    pw.stop()


@pytest.fixture
def new_page(browser: Any) -> Iterator[Callable[..., tuple[Any, PageWatch]]]:
    """new_page(extra_http_headers=None, **context_options) -> (page, watch)."""
    contexts: list[Any] = []

    def make(extra_http_headers: dict[str, str] | None = None, **options: Any
             ) -> tuple[Any, PageWatch]:
        ctx = browser.new_context(extra_http_headers=extra_http_headers or {},
                                  viewport={"width": 1400, "height": 900},
                                  accept_downloads=True, **options)
        ctx.set_default_timeout(30_000)
        contexts.append(ctx)
        page = ctx.new_page()
        watch = PageWatch()
        page.on("response", lambda r: watch.failed.append((r.status, r.request.method, r.url))
                if r.status >= 400 else None)
        page.on("pageerror", lambda e: watch.page_errors.append(str(e)))
        page.on("console", lambda m: watch.console_errors.append(m.text)
                if m.type == "error" else None)
        page.on("websocket", lambda ws: watch.websockets.append(ws))
        return page, watch

    yield make
    for ctx in contexts:
        ctx.close()


def has_chromium() -> bool:
    return shutil.which(CHROMIUM) is not None or Path(CHROMIUM).exists()
