"""`/api`, and the Jupyter-style `/api/kernels` / `/api/terminals` the idle culler polls."""
from __future__ import annotations

import time
from datetime import datetime, timezone

from odh_core import BaseHandler, allow_anonymous


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(
        timespec="milliseconds").replace("+00:00", "Z")


@allow_anonymous
class ApiRootHandler(BaseHandler):
    odh_anonymous_reason = "liveness ping of the ODH-TEC UI; carries no data"

    def get(self) -> None:
        self.write_json({"status": "ok"})


@allow_anonymous
class KernelsHandler(BaseHandler):
    """The culler (no token: it calls from the controller) reads `execution_state` and
    `last_activity`: busy while any transfer runs, so a long upload is never culled."""

    odh_anonymous_reason = "the notebook idle culler calls without a token; activity only"

    def get(self) -> None:
        plugin = self.plugin
        busy = plugin.access is not None and plugin.access.busy
        last = time.time() if busy else plugin.last_activity
        self.write_json([{"id": "odh-tec", "name": "odh-tec", "last_activity": _iso(last),
                          "execution_state": "busy" if busy else "idle",
                          "connections": 1 if busy else 0}])


@allow_anonymous
class TerminalsHandler(BaseHandler):
    odh_anonymous_reason = "the notebook idle culler calls without a token; always empty"

    def get(self) -> None:
        self.write_json([])
