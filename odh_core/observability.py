"""Logging (JSON or text, request id, redaction), the app-owned metrics registry, access log."""
from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
from typing import TYPE_CHECKING, Any, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from .redact import redact_text, redact_uri

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
    _second: int = -1
    _second_text: str = ""

    def _timestamp(self, record: logging.LogRecord) -> str:
        # One strftime per second, not per line: the access log writes thousands a second.
        second = int(record.created)
        if second != self._second:
            self._second_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        return f"{self._second_text}.{int(record.msecs):03d}Z"

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": self._timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": self.render_message(record),
            "pid": record.process,  # which worker, with --workers N
        }
        rid = getattr(record, "request_id", None) or request_id_var.get()
        if rid:
            out["requestId"] = rid
        fields = getattr(record, "odh_fields", None)
        if fields is not None:  # an access line: its fields are known and already safe
            out.update(fields)
            return json.dumps(out, default=str)
        safe = record.name in PRE_REDACTED
        for key, value in vars(record).items():
            if key not in _STD_ATTRS and key not in out and key != "request_id":
                out[key] = redact_text(value) if isinstance(value, str) and not safe else value
        if record.exc_info:
            out["exc"] = redact_text(self.formatException(record.exc_info))
        return json.dumps(out, default=str)


class TextFormatter(RedactingFormatterMixin, logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        rid = getattr(record, "request_id", None) or request_id_var.get()
        line = (f"{self.formatTime(record, '%H:%M:%S')} {record.levelname[0]} {record.name}: "
                f"{self.render_message(record)}" + (f" [{rid}]" if rid else ""))
        if record.exc_info:
            line += "\n" + redact_text(self.formatException(record.exc_info))
        return line


def configure_logging(level: str = "INFO", fmt: str = "auto", stream: Any = None) -> None:
    """Install one handler on the root logger (idempotent: replaces the one we installed)."""
    stream = stream or sys.stderr
    use_json = fmt == "json" or (fmt == "auto" and not getattr(stream, "isatty", lambda: False)())
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if use_json else TextFormatter())
    handler._odh = True  # type: ignore[attr-defined]
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_odh", False)]:
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


def make_log_function(metrics: Metrics, enabled: bool, finished_hook: Any):
    """Tornado's `log_function`: one access line + the latency histogram, labelled by handler."""

    children: dict[tuple[str, str, str, int], Any] = {}  # per app: label lookups are hot

    def log_function(handler: "RequestHandler") -> None:
        duration = handler.request.request_time()
        status = handler.get_status()
        plugin = getattr(handler, "plugin_name", "core")
        name = type(handler).__name__
        method = handler.request.method or "-"
        key = (plugin, name, method, status)
        child = children.get(key)
        if child is None:
            child = children[key] = metrics.request_duration.labels(plugin, name, method,
                                                                    str(status))
        child.observe(duration)
        if enabled and access_log.isEnabledFor(logging.INFO):
            identity = getattr(handler, "_odh_identity", None)
            level = logging.INFO if status < 500 else logging.WARNING
            ms = duration * 1000
            # Built by hand (no caller lookup, no `extra` checks): one of these per request.
            record = access_log.makeRecord(
                "odh.access", level, "", 0, "%s %s %d %.1fms",
                (method, redact_uri(handler.request.uri or ""), status, ms), None)
            record.request_id = getattr(handler, "request_id", "")
            record.odh_fields = {
                "status": status, "method": method, "duration_ms": round(ms, 2),
                "user": identity.username if identity else None, "plugin": plugin,
                "handler": name, "remote": handler.request.remote_ip}
            access_log.handle(record)
        finished_hook(handler, duration)

    return log_function


def monotonic() -> float:
    return time.monotonic()
