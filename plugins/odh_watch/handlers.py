"""The WebSocket routes: /wss/k8s/<api path>, /wss/k8s/watch, /wss/k8s/logs.

Everything that can refuse (bad input, identity, access) happens in `prepare`, before the
upgrade: a refused client gets a JSON error and never a frame. After the upgrade a task per
connection sends the initial state and ends; live frames are pushed to the `Subscriber`.
"""
from __future__ import annotations

import asyncio
from typing import Any

import tornado.web

from odh_core import SERVICE_ACCOUNT, ApiError, BaseWebSocketHandler

from .informer import AUTO
from .informer import MODE as SHARED
from .logs import MODE as LOGS
from .logs import LogRequest, stream_logs
from .resources import Target, parse_api_path
from .subscriber import Subscriber


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes")


class _StreamHandler(BaseWebSocketHandler):
    mode = ""
    sub: Subscriber | None = None
    _task: asyncio.Task[None] | None = None

    @property
    def hub(self) -> Any:
        return self.plugin.hub_for(self.cluster)  # type: ignore[union-attr]

    async def prepare(self) -> None:
        await super().prepare()
        try:
            await self.admit()
            await self.acquire_stream(self.mode or "watch")  # per-user stream limit, 429
        except ApiError as exc:
            self._odh_reject(exc)
            raise tornado.web.Finish() from None

    async def admit(self) -> None:
        """Parse the request and check access; raise ApiError to refuse before the upgrade."""
        raise NotImplementedError

    async def serve(self) -> None:
        raise NotImplementedError

    def open(self, *args: Any, **kwargs: Any) -> None:
        super().open(*args, **kwargs)
        cfg, metrics = self.hub.cfg, self.hub.metrics
        self.sub = Subscriber(
            self, self.token, max_frames=cfg.max_pending_frames,
            max_bytes=cfg.max_pending_bytes, slow_code=cfg.slow_close_code,
            on_slow=metrics.slow_dropped.labels(self.mode).inc,
            count=metrics.events.labels(self.mode).inc)
        metrics.clients.labels(self.mode).inc()
        self._task = asyncio.create_task(self._serve())

    async def _serve(self) -> None:
        try:
            await self.serve()
        except asyncio.CancelledError:
            raise
        except Exception:
            self.hub.log.exception("watch stream failed")
            if self.sub is not None:
                self.sub.close(1011, "internal error")
        finally:
            self._task = None  # an idle connection keeps no finished task around

    def on_message(self, message: str | bytes) -> None:
        pass  # watches are one-way; clients may still send (pings are Tornado's)

    def on_close(self) -> None:
        super().on_close()
        if self.sub is None:
            return
        self.sub.closed = True
        self.hub.metrics.clients.labels(self.mode).dec()
        if self._task is not None:
            self._task.cancel()
        self.release()
        self.sub = None

    def release(self) -> None:
        pass


class WatchHandler(_StreamHandler):
    """A Kubernetes watch relayed as WebSocket text frames, one watch event per frame."""

    target: Target
    rv: str = ""
    informer: Any = None
    as_service_account = False  # auto mode: the service account's informer serves this one

    async def admit(self) -> None:
        self.mode = self.hub.cfg.mode
        self.target = await self.parse_target()
        self.rv = self.get_query_argument("resourceVersion", "") or ""
        if len(self.rv) > 64:
            raise ApiError(400, "resourceVersion is too long")
        if not await self.hub.access.allowed(self.token, self.target):
            self.hub.metrics.access_denied.labels(self.mode).inc()
            raise ApiError(403, f"forbidden: you may not watch {self.target.describe()}")
        if self.mode == SHARED:
            self.as_service_account = True
        elif self.mode == AUTO:
            self.as_service_account = await self.hub.service_account_may_watch(self.target)

    async def parse_target(self) -> Target:
        path = self.path_kwargs.get("path") or self.path_args[0]
        return parse_api_path(path, self.get_query_argument("labelSelector", None),
                              self.get_query_argument("fieldSelector", None))

    async def serve(self) -> None:
        sub = self.sub
        assert sub is not None
        sub.bookmarks = _flag(self.get_query_argument("allowWatchBookmarks", None))
        inf = await self._joined()
        if inf is None:
            return
        self.informer = inf
        frames = inf.admit(sub, self.rv)
        inf.unhold()
        await sub.catch_up(frames)

    async def _joined(self) -> Any:
        """The informer serving this socket, ready and held; None if it failed (closed).

        In auto mode a service account that turns out unable to watch (its RBAC changed since
        the review) is not the subscriber's problem: it gets an upstream of its own instead.
        """
        sub = self.sub
        assert sub is not None
        while True:
            token = SERVICE_ACCOUNT if self.as_service_account else self.token
            inf = self.hub.informer(self.target, self.rv, mode=self.mode, token=token)
            try:
                await inf.ready.wait()
            except BaseException:
                inf.unhold()
                raise
            if inf.failure is None:
                return inf
            inf.unhold()
            if self.mode == AUTO and self.as_service_account:
                self.as_service_account = False
                continue
            sub.close(*inf.failure_close())
            return None

    def release(self) -> None:
        if self.informer is not None and self.sub is not None:
            self.informer.leave(self.sub)
            self.informer = None


class SimpleWatchHandler(WatchHandler):
    """The simplified form: `?resource=&namespace=&labelSelector=&fieldSelector=`."""

    async def parse_target(self) -> Target:
        name = self.get_query_argument("resource", "") or ""
        res = await self.hub.discovery.resolve(name)
        namespace = self.get_query_argument("namespace", "") or ""
        if namespace and not res.namespaced:
            raise ApiError(400, f"{res.plural} is cluster-scoped: drop the namespace parameter")
        path = (f"/apis/{res.group}/{res.version}" if res.group else f"/api/{res.version}") \
            + (f"/namespaces/{namespace}" if namespace else "") + f"/{res.plural}"
        return parse_api_path(path, self.get_query_argument("labelSelector", None),
                              self.get_query_argument("fieldSelector", None))


class LogsHandler(_StreamHandler):
    """A pod's log, one text frame per line (`follow=true` keeps it open)."""

    mode = LOGS
    req: LogRequest

    async def admit(self) -> None:
        arg = self.get_query_argument
        namespace, pod = arg("namespace", "") or "", arg("pod", "") or ""
        if not namespace or not pod:
            raise ApiError(400, "query parameters namespace and pod are required")
        container = arg("container", "") or ""
        # Reuse the path validation: names must be DNS-1123 labels/subdomains.
        parse_api_path(f"/api/v1/namespaces/{namespace}/pods/{pod}", None, None)
        if container:
            parse_api_path(f"/api/v1/namespaces/{namespace}/pods/{container}", None, None)
        tail_raw = arg("tailLines", None)
        tail = None
        if tail_raw not in (None, ""):
            try:
                tail = int(tail_raw)  # type: ignore[arg-type]
            except ValueError:
                raise ApiError(400, "tailLines must be an integer") from None
            if not 0 <= tail <= self.hub.cfg.log_tail_lines_max:
                raise ApiError(400, f"tailLines must be between 0 and "
                                    f"{self.hub.cfg.log_tail_lines_max}")
        self.req = LogRequest(namespace, pod, container, _flag(arg("follow", None)), tail,
                              _flag(arg("timestamps", None)))
        pods = Target("", "v1", "pods", namespace)
        if not await self.hub.access.allowed(self.token, pods, verb="get", name=pod,
                                             subresource="log"):
            self.hub.metrics.access_denied.labels(LOGS).inc()
            raise ApiError(403, f"forbidden: you may not read the logs of pod {pod} in "
                                f"{namespace}")

    async def serve(self) -> None:
        assert self.sub is not None
        await stream_logs(self.hub, self.req, self.token, self.sub)
