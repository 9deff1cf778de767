"""SandboxKubeServer (on the current loop) and SandboxKube (in a thread of its own)."""
from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import logging
import os
import re
import shutil
import socket
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable, Iterator

import tornado.httpserver
import tornado.netutil
import tornado.routing
import tornado.web
import yaml

from . import openshift
from .authn import TokenAuthenticator
from .bootlogs import boot_lines
from .faults import FaultInjector
from .handlers import KubeHandler
from . import lifecycle
from .logs import LogStore
from .openapi import CRD_KEY, OpenApi
from .ops import Api
from .rbac import SA_PREFIX, Authorizer
from .resources import ResourceType, VirtualResource
from .reviews import Reviews
from .seeds import apply_seed_objects, default_seed_dir, read_seed_dir
from .store import Event, Store
from .tls import make_tls, server_context
from .watch import Watcher
from .wswatch import WatchSocket, WebSocketUpgrade

REQUESTER_ANNOTATION = "openshift.io/requester"
_log = logging.getLogger("odh.sandbox.kube")


def _access_log(handler: tornado.web.RequestHandler) -> None:
    # Debug only: the sandbox's 4xx are expected answers, not warnings for the host app.
    if _log.isEnabledFor(logging.DEBUG):
        r = handler.request
        _log.debug("%s %s %s %.2fms", handler.get_status(), r.method, r.uri,
                   1000.0 * r.request_time())


class RequestLog:
    """(method, path, query) of every request served; thread-safe for test assertions."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[tuple[str, str, str]] = []

    def record(self, method: str, path: str, query: str) -> None:
        with self._lock:
            self._items.append((method, path, query))

    def reset(self) -> None:
        with self._lock:
            self._items.clear()

    def count(self, method: str | None = None, path_regex: str | None = None) -> int:
        pat = re.compile(path_regex) if path_regex else None
        with self._lock:
            return sum(1 for m, p, _ in self._items
                       if (method is None or m == method.upper())
                       and (pat is None or pat.search(p)))

    def snapshot(self) -> list[tuple[str, str, str]]:
        with self._lock:
            return list(self._items)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def __iter__(self) -> Iterator[tuple[str, str, str]]:
        return iter(self.snapshot())

    def __getitem__(self, i: int) -> tuple[str, str, str]:
        with self._lock:
            return self._items[i]


class SandboxKubeServer:
    """The in-memory Kubernetes API server, serving http and https on the current loop."""

    def __init__(self, *, seed_dir: str | Path | None = None, host: str = "127.0.0.1",
                 port: int = 0, https_port: int = 0, kubeconfig_out: str | Path | None = None,
                 state_dir: str | Path | None = None) -> None:
        self.seed_dir = Path(seed_dir) if seed_dir is not None else default_seed_dir()
        self.host = host
        self._want_port = port
        self._want_https_port = https_port
        self._kubeconfig_out = Path(kubeconfig_out) if kubeconfig_out else None
        self._state_dir_arg = Path(state_dir) if state_dir else None
        self._own_state_dir = False
        self.state_dir: Path | None = None

        self.store = Store()
        lifecycle.install(self.store)
        openshift.register(self.store.registry)
        self.api = Api(self.store)
        self.authn = TokenAuthenticator(self.store)
        self.authz = Authorizer(self.store)
        crd_rt = self.store.registry.types[CRD_KEY]
        self.openapi = OpenApi(self.store.registry,
                               lambda: self.store.iter_sorted(crd_rt, None))
        self.api.schemas = self.openapi
        reviews = Reviews(self.authz, self.authn)
        self.virtual: dict[tuple[str, str], VirtualResource] = {
            rt.key: reviews for rt in self.store.registry.types.values() if rt.virtual}
        self.logs = LogStore()
        self.faults = FaultInjector()
        self.requests = RequestLog()
        self.watchers: set[Watcher] = set()
        self.log_followers: set[Any] = set()
        self.bookmark_interval = 30.0
        self.store.subscribe(self._on_event)
        self.store.type_removed_hooks.append(self._on_type_removed)

        self.http_url = ""
        self.https_url = ""
        self.ca_file = ""
        self.kubeconfig = ""
        self.port = 0
        self.https_port = 0
        self._servers: list[tornado.httpserver.HTTPServer] = []
        self._listening: list[tornado.httpserver.HTTPServer] = []
        self._ssl_ctx: Any = None
        self._app: tornado.web.Application | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._relisten: asyncio.TimerHandle | None = None
        self._started = False

    # -- lifecycle -----------------------------------------------------------------
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self._state_dir_arg is None:
            self.state_dir = Path(tempfile.mkdtemp(prefix="odh-sandbox-kube-"))
            self._own_state_dir = True
        else:
            self.state_dir = self._state_dir_arg
        state_dir = self.state_dir
        # Key generation and file reads are blocking: keep them off the loop.
        tls, seeds = await asyncio.gather(asyncio.to_thread(make_tls, state_dir / "pki"),
                                          asyncio.to_thread(read_seed_dir, self.seed_dir))
        self.ca_file = tls.ca_file
        self._ssl_ctx = server_context(tls)
        for token, user in seeds.tokens:
            self.authn.add_static(token, user)
        apply_seed_objects(self.api, seeds)

        self._app = tornado.web.Application([
            tornado.routing.Rule(WebSocketUpgrade(), WatchSocket, {"server": self}),
            (r"/.*", KubeHandler, {"server": self})], log_function=_access_log)
        http_socks = tornado.netutil.bind_sockets(self._want_port, self.host,
                                                  family=socket.AF_INET)
        https_socks = tornado.netutil.bind_sockets(self._want_https_port, self.host,
                                                   family=socket.AF_INET)
        self.port = http_socks[0].getsockname()[1]
        self.https_port = https_socks[0].getsockname()[1]
        self._listen(http_socks, https_socks)
        self.http_url = f"http://{self.host}:{self.port}"
        self.https_url = f"https://{self.host}:{self.https_port}"
        self.faults._cut = self._threadsafe(self._cut_streams)
        self.faults._refuse = self._threadsafe(self._refuse_connections)
        out = self._kubeconfig_out or (state_dir / "kubeconfig")
        await asyncio.to_thread(self._write_kubeconfig, out)
        self.kubeconfig = str(out)
        self._started = True

    def _listen(self, http_socks: list[socket.socket], https_socks: list[socket.socket]) -> None:
        plain = tornado.httpserver.HTTPServer(self._app)
        plain.add_sockets(http_socks)
        secure = tornado.httpserver.HTTPServer(self._app, ssl_options=self._ssl_ctx)
        secure.add_sockets(https_socks)
        self._servers += [plain, secure]
        self._listening = [plain, secure]

    async def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        if self._relisten is not None:
            self._relisten.cancel()
        for srv in self._listening:
            srv.stop()
        self._listening = []
        # End streams gracefully (the chunked terminator is sent), then drop connections.
        for w in list(self.watchers):
            w.close()
        for f in list(self.log_followers):
            f.close()
        self.logs.end_all()
        for _ in range(200):
            if not self.watchers and not self.log_followers:
                break
            await asyncio.sleep(0.01)
        for srv in self._servers:
            await srv.close_all_connections()
        self._servers = []
        self.authn.close()
        self.store.unsubscribe(self._on_event)
        if self._own_state_dir and self.state_dir is not None:
            await asyncio.to_thread(shutil.rmtree, self.state_dir, True)

    # -- faults needing the loop ---------------------------------------------------
    def _threadsafe(self, fn: Callable[..., None]) -> Callable[..., None]:
        loop = self._loop
        assert loop is not None

        def call(*args: Any) -> None:
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is loop:
                fn(*args)
            else:
                fut: concurrent.futures.Future[None] = concurrent.futures.Future()

                def run() -> None:
                    try:
                        fn(*args)
                        fut.set_result(None)
                    except BaseException as e:  # noqa: BLE001 - handed to the caller
                        fut.set_exception(e)
                loop.call_soon_threadsafe(run)
                fut.result(timeout=30)
        return call

    def _cut_streams(self, path_regex: str | None, graceful: bool) -> None:
        pat = re.compile(path_regex) if path_regex else None
        for w in list(self.watchers):
            if pat is None or pat.search(w.path):
                w.close(abort=not graceful)
        for f in list(self.log_followers):
            if pat is None or pat.search(f.path):
                f.close(abort=not graceful)

    def _refuse_connections(self, seconds: float) -> None:
        for srv in self._listening:
            srv.stop()
        self._listening = []
        assert self._loop is not None
        if self._relisten is not None:
            self._relisten.cancel()

        def relisten() -> None:
            self._relisten = None
            if not self._started:
                return
            http_socks = tornado.netutil.bind_sockets(self.port, self.host,
                                                      family=socket.AF_INET)
            https_socks = tornado.netutil.bind_sockets(self.https_port, self.host,
                                                       family=socket.AF_INET)
            self._listen(http_socks, https_socks)
        self._relisten = self._loop.call_later(seconds, relisten)

    # -- events --------------------------------------------------------------------
    def _on_event(self, ev: Event) -> None:
        if ev.key == ("", "pods") and ev.type == "DELETED":
            self.logs.end_pod(ev.obj["metadata"].get("namespace", ""), ev.obj["metadata"]["name"])
        elif ev.key == ("", "pods") and ev.type == "ADDED":
            meta = ev.obj["metadata"]
            for container, line in boot_lines(ev.obj):
                self.logs.append(meta.get("namespace", ""), meta["name"], container, line)

    def _on_type_removed(self, rt: ResourceType) -> None:
        for w in list(self.watchers):
            if w.rt.key == rt.key:
                w.close()

    # -- public helpers ------------------------------------------------------------
    def register_virtual(self, rt: ResourceType, handler: VirtualResource) -> None:
        """Serve a type that is computed, not stored (e.g. OpenShift's users/~): discovery
        lists it, RBAC applies, and `handler` answers each authorised request."""
        if not rt.virtual:
            raise ValueError(f"{rt.plural}.{rt.group}: register a ResourceType(virtual=True)")
        self.store.registry.add(rt)
        self.virtual[rt.key] = handler

    @property
    def server_address(self) -> str:
        return f"{self.host}:{self.https_port}"

    @staticmethod
    def version_info() -> dict[str, str]:
        return {"major": "1", "minor": "32", "gitVersion": "v1.32.0-odh-sandbox",
                "gitCommit": "0000000000000000000000000000000000000000",
                "gitTreeState": "clean", "buildDate": "2025-01-01T00:00:00Z",
                "goVersion": "go1.23.0", "compiler": "gc", "platform": "linux/amd64"}

    def users(self) -> dict[str, str]:
        """Seed user name -> username (static users, then service accounts by SA name)."""
        out: dict[str, str] = {}
        for user in self.authn.static.values():
            out.setdefault(user.username, user.username)
        for username in sorted({u.username for u in self.authn._sa_tokens.values()}):
            short = username.rsplit(":", 1)[-1]
            out.setdefault(short, username)
        return out

    def token(self, user: str) -> str:
        """A bearer token of a seed user ("admin", "alice", "bob") or service account
        (by its name, e.g. "odh-core", or its full system:serviceaccount:... username)."""
        username = self.users().get(user, user)
        tokens = self.authn.tokens_for(username)
        if not tokens:
            raise KeyError(f"no seed token for user {user!r}")
        return tokens[0]

    def append_log(self, namespace: str, pod: str, container: str, line: str) -> None:
        self.logs.append(namespace, pod, container, line)

    def _project_of(self, username: str) -> str:
        if username.startswith(SA_PREFIX):
            return username[len(SA_PREFIX):].split(":", 1)[0]
        ns_rt = self.store.registry.types[("", "namespaces")]
        for ns in self.store.iter_sorted(ns_rt, None):
            ann = ns["metadata"].get("annotations") or {}
            if ann.get(REQUESTER_ANNOTATION) == username:
                return ns["metadata"]["name"]
        return "default"

    def kubeconfig_dict(self) -> dict[str, Any]:
        ca = base64.b64encode(Path(self.ca_file).read_bytes()).decode()
        users, contexts = [], []
        admin = None
        for name, username in self.users().items():
            users.append({"name": name, "user": {"token": self.token(name)}})
            contexts.append({"name": name, "context": {"cluster": "sandbox", "user": name,
                                                       "namespace": self._project_of(username)}})
            if admin is None and name == "admin":
                admin = name
        return {"apiVersion": "v1", "kind": "Config", "preferences": {},
                "clusters": [{"name": "sandbox", "cluster": {
                    "server": self.https_url, "certificate-authority-data": ca}}],
                "users": users, "contexts": contexts,
                "current-context": admin or (contexts[0]["name"] if contexts else "")}

    def _write_kubeconfig(self, path: Path) -> None:
        # Written beside and renamed into place: whoever waits for the file (kubectl, a
        # script, bench.common.SandboxChild) never reads it half written. Owner-only from
        # the start: it holds every seed user's token.
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(yaml.safe_dump(self.kubeconfig_dict(), sort_keys=False))
        os.replace(partial, path)


class _Proxy:
    """Marshals method calls on a server-owned object into the server thread."""

    def __init__(self, target: Any, runner: SandboxKube) -> None:
        self._target = target
        self._runner = runner

    def __getattr__(self, name: str) -> Any:
        value = self._runner.call(getattr, self._target, name)
        if callable(value):
            return lambda *a, **kw: self._runner.call(value, *a, **kw)
        return value


class SandboxKube:
    """SandboxKubeServer in a background thread with its own loop; every method is
    thread-safe (calls are marshalled into the server thread)."""

    def __init__(self, **kwargs: Any) -> None:
        self._kwargs = kwargs
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: SandboxKubeServer | None = None

    def start(self) -> SandboxKube:
        ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._run, args=(ready,),
                                        name="sandbox-kube", daemon=True)
        self._thread.start()
        ready.result(timeout=60)
        return self

    def _run(self, ready: concurrent.futures.Future[None]) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        try:
            self._server = SandboxKubeServer(**self._kwargs)
            loop.run_until_complete(self._server.start())
        except BaseException as e:  # noqa: BLE001 - reported to start()
            ready.set_exception(e)
            loop.close()
            return
        ready.set_result(None)
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def stop(self) -> None:
        if self._loop is None or self._server is None or self._thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._server.stop(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._thread = None

    def __enter__(self) -> SandboxKube:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run fn in the server thread (awaiting it if it is a coroutine) and return."""
        assert self._loop is not None

        async def run() -> Any:
            result = fn(*args, **kwargs)
            if asyncio.iscoroutine(result):
                result = await result
            return result
        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout=30)

    @property
    def server(self) -> SandboxKubeServer:
        assert self._server is not None, "start() first"
        return self._server

    # Immutable once started: plain reads are safe.
    http_url = property(lambda self: self.server.http_url)
    https_url = property(lambda self: self.server.https_url)
    ca_file = property(lambda self: self.server.ca_file)
    kubeconfig = property(lambda self: self.server.kubeconfig)
    faults = property(lambda self: self.server.faults)        # thread-safe itself
    requests = property(lambda self: self.server.requests)    # thread-safe itself

    @property
    def store(self) -> Any:
        return _Proxy(self.server.store, self)

    def token(self, user: str) -> str:
        return self.call(self.server.token, user)

    def append_log(self, namespace: str, pod: str, container: str, line: str) -> None:
        self.call(self.server.append_log, namespace, pod, container, line)
