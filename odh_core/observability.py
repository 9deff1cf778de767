"""Logging (JSON or text, request id, redaction), the app-owned metrics registry, access log."""
from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import sys
import time
from typing import TYPE_CHECKING, Any, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from .jsonwire import dumps
from .redact import redact_text, redact_uri
from .timefmt import UtcStamp

if TYPE_CHECKING:  # pragma: no cover
    from tornado.web import RequestHandler

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("odh_request_id", default="")

_STD_ATTRS = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


# Loggers whose records are built from already-redacted parts (the access log redacts the URI
# itself): scanning them again would cost a dozen regex passes per request for nothing.
PRE_REDACTED = frozenset({"odh.access"})


class RedactingFormatterMixin:
    def render_message(self, record: logging.LogRecord) -> str:
        if record.name in PRE_REDACTED:
            return record.getMessage()
        return redact_text(record.getMessage())


class JsonFormatter(RedactingFormatterMixin, logging.Formatter):
    converter = time.gmtime  # the "Z" in the timestamp means UTC, whatever TZ says

    def __init__(self) -> None:
        super().__init__()
        self._timestamp = UtcStamp()

    def access_line(self, created: float, level: int, msg: str, request_id: str,
                    fields: dict[str, Any]) -> str:
        """An access line: its message and fields are known and already redacted."""
        out: dict[str, Any] = {"ts": self._timestamp(created),
                               "level": logging.getLevelName(level).lower(),
                               "logger": "odh.access", "msg": msg, "pid": os.getpid()}
        if request_id:
            out["requestId"] = request_id
        out.update(fields)
        return dumps(out)

    def format(self, record: logging.LogRecord) -> str:
        rid = getattr(record, "request_id", None) or request_id_var.get()
        fields = getattr(record, "odh_fields", None)
        if fields is not None:
            return self.access_line(record.created, record.levelno, record.getMessage(), rid,
                                    fields)
        out: dict[str, Any] = {
            "ts": self._timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": self.render_message(record),
            "pid": record.process,  # which worker, with --workers N
        }
        if rid:
            out["requestId"] = rid
        safe = record.name in PRE_REDACTED
        for key, value in vars(record).items():
            if key not in _STD_ATTRS and key not in out and key != "request_id":
                out[key] = redact_text(value) if isinstance(value, str) and not safe else value
        if record.exc_info:
            out["exc"] = redact_text(self.formatException(record.exc_info))
        return dumps(out)


class TextFormatter(RedactingFormatterMixin, logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        rid = getattr(record, "request_id", None) or request_id_var.get()
        line = (f"{self.formatTime(record, '%H:%M:%S')} {record.levelname[0]} {record.name}: "
                f"{self.render_message(record)}" + (f" [{rid}]" if rid else ""))
        if record.exc_info:
            line += "\n" + redact_text(self.formatException(record.exc_info))
        return line


class OdhStreamHandler(logging.StreamHandler):
    """The handler `configure_logging` installs.

    Access lines come through `write_batched` and are written once per event-loop turn (a
    write and a flush per request was a system call per request); any other record, a flush
    or a loop that went away first writes what is pending, so lines keep their order and
    `logging.shutdown` at exit loses none.
    """

    max_pending = 512  # past this, write at once rather than wait for the loop to turn

    def __init__(self, stream: Any):
        super().__init__(stream)
        self._pending: list[str] = []
        self._scheduled_on: asyncio.AbstractEventLoop | None = None  # a write is queued there

    def write_batched(self, line: str) -> None:
        self.acquire()
        try:
            self._pending.append(line)
            if len(self._pending) >= self.max_pending:
                self._write_pending()
            scheduled = self._scheduled_on
            if scheduled is not None and not scheduled.is_closed():
                return
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # no loop will turn: write now
                self._scheduled_on = None
                self._write_pending()
                return
            loop.call_soon(self._flush_pending)
            self._scheduled_on = loop
        finally:
            self.release()

    def _write_pending(self) -> None:
        # Called with the lock held.
        if self._pending:
            lines, self._pending = self._pending, []
            try:
                self.stream.write("\n".join(lines) + "\n")
                self.stream.flush()
            except Exception:  # as StreamHandler.emit: a broken stream must not break serving
                if logging.raiseExceptions:
                    sys.stderr.write(f"odh-core: {len(lines)} log lines lost: stream failed\n")

    def _flush_pending(self) -> None:
        self.acquire()
        try:
            self._scheduled_on = None
            self._write_pending()
        finally:
            self.release()

    def flush(self) -> None:
        self._flush_pending()
        super().flush()

    def emit(self, record: logging.LogRecord) -> None:
        if self._pending:
            self.flush()  # keep the order lines were logged in
        super().emit(record)


def configure_logging(level: str = "INFO", fmt: str = "auto", stream: Any = None) -> None:
    """Install one handler on the root logger (idempotent: replaces the one we installed)."""
    stream = stream or sys.stderr
    use_json = fmt == "json" or (fmt == "auto" and not getattr(stream, "isatty", lambda: False)())
    handler = OdhStreamHandler(stream)
    handler.setFormatter(JsonFormatter() if use_json else TextFormatter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, OdhStreamHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Nothing we print uses thread or multiprocessing names; LogRecord looks both up for every
    # record (the access log writes one per request) unless told not to.
    logging.logThreads = False
    logging.logMultiprocessing = False
    # Tornado's own access log would duplicate ours (and print raw URIs).
    logging.getLogger("tornado.access").setLevel(logging.WARNING)


class Metrics:
    """The app's own Prometheus registry (never the global one: two apps must not share)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.request_duration = Histogram(
            "odh_http_request_duration_seconds", "HTTP request latency by handler.",
            ["plugin", "handler", "method", "code"], registry=self.registry,
            buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60))
        self.plugin_info = Gauge("odh_plugin_info", "Loaded plugins (1 = enabled).",
                                 ["plugin", "version"], registry=self.registry)
        self.hook_errors = Counter("odh_hook_errors_total", "Exceptions raised by hooks.",
                                   ["plugin", "hook"], registry=self.registry)

    def for_plugin(self, name: str) -> "PluginMetrics":
        return PluginMetrics(self.registry, name)


class PluginMetrics:
    """Create metrics in the app registry; names are the plugin's to choose (prefix odh_)."""

    def __init__(self, registry: CollectorRegistry, plugin: str):
        self.registry = registry
        self.plugin = plugin

    def counter(self, name: str, doc: str, labels: Sequence[str] = ()) -> Counter:
        return Counter(name, doc, list(labels), registry=self.registry)

    def gauge(self, name: str, doc: str, labels: Sequence[str] = ()) -> Gauge:
        return Gauge(name, doc, list(labels), registry=self.registry)

    def histogram(self, name: str, doc: str, labels: Sequence[str] = (),
                  buckets: Sequence[float] | None = None) -> Histogram:
        kwargs: dict[str, Any] = {"registry": self.registry}
        if buckets:
            kwargs["buckets"] = buckets
        return Histogram(name, doc, list(labels), **kwargs)


access_log = logging.getLogger("odh.access")


def direct_access_handler(level: int) -> "OdhStreamHandler | None":
    """The handler an access line can be handed to directly, or None.

    One access line per request made the logging machinery (LogRecord, the logger hierarchy,
    locks, formatter dispatch, a write and flush) the largest cost of a trivial request. When
    the only handler that would see the line is the JSON handler `configure_logging`
    installed, with no filter on the way, the line is formatted here and batched by that
    handler. Anything else (pytest's caplog, an operator's extra handler or filter, the text
    format) takes the normal path.
    """
    if access_log.filters or access_log.disabled:
        return None
    found = None
    logger: Any = access_log
    while logger is not None:
        for h in logger.handlers:
            if found is not None or type(h) is not OdhStreamHandler:
                return None
            found = h
        if not logger.propagate:
            break
        logger = logger.parent
    if (found is None or found.filters or level < found.level
            or type(found.formatter) is not JsonFormatter):
        return None
    return found


# Label values a client cannot choose: any other method is "other", any status outside
# 100-599 "other". Handler and plugin labels name code, never the path, so an unknown route
# is the 404 handler's series.
METRIC_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def metric_labels(plugin: str, handler: str, method: str, status: int) -> tuple[str, ...]:
    return (plugin, handler, method if method in METRIC_METHODS else "other",
            str(status) if 100 <= status <= 599 else "other")


def make_log_function(metrics: Metrics, enabled: bool, finished_hook: Any):
    """Tornado's `log_function`: one access line + the latency histogram, labelled by handler."""

    children: dict[tuple[str, ...], Any] = {}  # per app: label lookups are hot

    def log_function(handler: "RequestHandler") -> None:
        duration = handler.request.request_time()
        status = handler.get_status()
        plugin = getattr(handler, "plugin_name", "core")
        name = type(handler).__name__
        method = handler.request.method or "-"
        key = metric_labels(plugin, name, method, status)
        child = children.get(key)
        if child is None:
            child = children[key] = metrics.request_duration.labels(*key)
        child.observe(duration)
        level = logging.INFO if status < 500 else logging.WARNING
        if enabled and access_log.isEnabledFor(level):
            identity = getattr(handler, "_odh_identity", None)
            ms = duration * 1000
            if method not in METRIC_METHODS:
                method = method[:32]  # a client-chosen word: bounded in the log line too
            msg = f"{method} {redact_uri(handler.request.uri or '')} {status} {ms:.1f}ms"
            request_id = getattr(handler, "request_id", "")
            fields = {"status": status, "method": method, "duration_ms": round(ms, 2),
                      "user": identity.username if identity else None, "plugin": plugin,
                      "handler": name, "remote": handler.request.remote_ip}
            direct = direct_access_handler(level)
            if direct is not None:
                direct.write_batched(direct.formatter.access_line(  # type: ignore[union-attr]
                    time.time(), level, msg, request_id, fields))
            else:  # built by hand all the same: no caller lookup, no `extra` checks
                record = access_log.makeRecord("odh.access", level, "", 0, msg, None, None)
                record.request_id = request_id
                record.odh_fields = fields
                access_log.handle(record)
        finished_hook(handler, duration)

    return log_function


def monotonic() -> float:
    return time.monotonic()
