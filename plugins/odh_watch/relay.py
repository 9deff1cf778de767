"""Per-user mode: one upstream watch per WebSocket, with the user's own token.

Without a resourceVersion the relay lists first (ADDED for each object), then watches from
the list's resourceVersion, so a broken watch can resume without losing or repeating
events. A 410 is passed on as the API server's ERROR event (the client re-lists) and the
socket closed with 1011, the code the dashboard SDK re-lists on.
"""
from __future__ import annotations

import asyncio
import json

from odh_core import KubeUnavailable

from .backoff import backoff_delay
from .hub import WatchHub
from .listing import ListFailed, list_target
from .resources import Target
from .subscriber import Subscriber
from .upstream import Denied, Expired, WatchStream

MODE = "per-user"


async def relay(hub: WatchHub, target: Target, token: str, sub: Subscriber, rv: str) -> None:
    try:
        if rv in ("", "0"):
            attempt = 0
            while True:
                try:
                    listing = await list_target(hub.kube, target, token)
                    break
                except (ListFailed, KubeUnavailable):
                    await asyncio.sleep(backoff_delay(attempt, hub.cfg.backoff_initial_seconds,
                                                      hub.cfg.backoff_max_seconds))
                    attempt += 1
            # The list is held no longer than it takes to send, not for the watch's lifetime.
            rv, items = listing.rv, listing.items
            del listing
            await sub.send_paced(json.dumps({"type": "ADDED", "object": item},
                                            separators=(",", ":")).encode()
                                 for item in items)
            del items
        def forward(etype: str, _obj: object, line: bytes) -> None:
            if etype != "BOOKMARK" or sub.bookmarks:
                sub.deliver(line)

        stream = WatchStream(hub.kube, target, token, hub.cfg, hub.metrics, MODE, forward,
                             hub.log)
        await stream.run(rv)
    except Expired as exc:
        if exc.line is not None:
            sub.deliver(exc.line)
        sub.close(1011, "resource version too old: list again")
    except Denied as exc:
        hub.metrics.access_denied.labels(MODE).inc()
        sub.close(1008 if exc.status in (401, 403) else 1011,
                  f"the API server refused the watch ({exc.status})")
