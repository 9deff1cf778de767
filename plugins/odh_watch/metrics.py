"""The plugin's metrics, in the app's registry, labelled by mode (shared / per-user / logs)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class WatchMetrics:
    clients: Any
    upstream_open: Any
    upstream_opened: Any
    events: Any
    slow_dropped: Any
    access_denied: Any

    @classmethod
    def create(cls, factory: Any) -> "WatchMetrics":
        return cls(
            clients=factory.gauge("odh_watch_clients", "Connected WebSocket clients.", ["mode"]),
            upstream_open=factory.gauge("odh_watch_upstream_watches",
                                        "Upstream watch / log streams open now.", ["mode"]),
            upstream_opened=factory.counter("odh_watch_upstream_opened_total",
                                            "Upstream watch / log streams opened.", ["mode"]),
            events=factory.counter("odh_watch_events_relayed_total",
                                   "Frames sent to clients (one per event and client).",
                                   ["mode"]),
            slow_dropped=factory.counter("odh_watch_slow_clients_dropped_total",
                                         "Clients closed because their send queue passed the "
                                         "bound.", ["mode"]),
            access_denied=factory.counter("odh_watch_access_denied_total",
                                          "Subscriptions refused or ended by an access review.",
                                          ["mode"]))
