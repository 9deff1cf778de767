"""Pod logs over a WebSocket: one text frame per line, as the user.

A followed stream that breaks is resumed: the upstream is asked for timestamps, the relay
remembers the last one it sent (and how many lines carried it) and skips what it already
sent when the reconnected stream starts a little earlier.
"""
from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from odh_core import KubeUnavailable

from .backoff import backoff_delay
from .hub import WatchHub
from .lines import LineTooLong, read_lines
from .subscriber import Subscriber

if TYPE_CHECKING:  # pragma: no cover
    import aiohttp

MODE = "logs"


@dataclass(frozen=True)
class LogRequest:
    namespace: str
    pod: str
    container: str
    follow: bool
    tail_lines: int | None
    timestamps: bool

    @property
    def path(self) -> str:
        return f"/api/v1/namespaces/{self.namespace}/pods/{self.pod}/log"


def _age_seconds(stamp: str) -> int:
    try:
        when = datetime.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    except ValueError:
        return 0
    return max(1, math.ceil((datetime.now(timezone.utc) - when).total_seconds()) + 1)


async def stream_logs(hub: WatchHub, req: LogRequest, token: str, sub: Subscriber) -> None:
    import aiohttp

    last_stamp, same_stamp = "", 0
    attempt = 0
    first = True
    connected_at = ""
    while not sub.closed:
        params = {"timestamps": "true"}
        if req.container:
            params["container"] = req.container
        if req.follow:
            params["follow"] = "true"
        if first and req.tail_lines is not None:
            params["tailLines"] = str(req.tail_lines)
        elif not first:
            since = last_stamp or connected_at
            params["sinceSeconds"] = str(_age_seconds(since)) if since else "1"
        skip_through = last_stamp if not first else ""
        to_skip = same_stamp
        try:
            async with hub.kube.open("GET", req.path, token=token, params=params,
                                     timeout=hub.kube.timeout(read=None)) as resp:
                if resp.status != 200:
                    body = (await resp.content.read(2048)).decode("utf-8", "replace")
                    code = 1008 if resp.status in (401, 403) else 1011
                    if resp.status >= 500 or resp.status == 429:
                        raise KubeUnavailable(f"log request answered {resp.status}")
                    sub.close(code, f"the API server refused the log request ({resp.status})")
                    hub.log.info("log stream refused (%d): %s", resp.status, body[:200])
                    return
                hub.metrics.upstream_open.labels(MODE).inc()
                hub.metrics.upstream_opened.labels(MODE).inc()
                if first:
                    first = False
                    connected_at = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
                try:
                    async for raw in read_lines(resp.content, hub.cfg.max_line_bytes):
                        text = raw.decode("utf-8", "replace")  # a text frame must be UTF-8
                        stamp, sep, rest = text.partition(" ")
                        if not sep:
                            stamp, rest = "", text
                        if skip_through and stamp:
                            if stamp < skip_through:
                                continue
                            if stamp == skip_through and to_skip > 0:
                                to_skip -= 1
                                continue
                            skip_through = ""
                        if stamp == last_stamp:
                            same_stamp += 1
                        else:
                            last_stamp, same_stamp = stamp, 1
                        sub.deliver((text if req.timestamps else rest).encode())
                        attempt = 0
                finally:
                    hub.metrics.upstream_open.labels(MODE).dec()
            break  # a clean end: the log is complete, or the followed container finished
        except (KubeUnavailable, aiohttp.ClientError, asyncio.TimeoutError, LineTooLong) as exc:
            if not req.follow:
                sub.close(1011, "the log stream broke")
                return
            hub.log.info("log stream of %s/%s broke (%s); resuming", req.namespace, req.pod,
                         type(exc).__name__)
            await asyncio.sleep(backoff_delay(attempt, hub.cfg.backoff_initial_seconds,
                                              hub.cfg.backoff_max_seconds))
            attempt += 1
    sub.close(1000, "log stream ended")  # sent after the queued lines, in order
