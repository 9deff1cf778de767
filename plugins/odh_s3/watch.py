"""Follow objects with a watch instead of polling them.

`SecretWatch` keeps one watch open (the service account's token, or a user's) on a kind in a
namespace, narrowed by a field or label selector, and calls `on_change(event)` for every event
and `on_change(None)` after each (re)connect (the caller re-reads: it may have missed events).
When the token may not watch (401/403), it stops (`forbidden`): callers then fall back to
re-reading after a TTL, lazily, on requests.
"""
from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, Awaitable, Callable

from odh_core import SERVICE_ACCOUNT, ApiError

log = logging.getLogger("odh.plugin.s3")
WATCH_SECONDS = 300  # the API server ends each watch after this; we reopen it
MAX_BACKOFF_S = 30.0


class SecretWatch:
    def __init__(self, kube: Any, path: str, params: dict[str, str],
                 on_change: Callable[[dict[str, Any] | None], Awaitable[None]],
                 token: Any = SERVICE_ACCOUNT):
        self.kube = kube
        self.token = token
        self.path = path
        self.params = params
        self.on_change = on_change
        self.active = False  # True while a watch stream is open
        self.forbidden = False
        self._task: asyncio.Task[None] | None = None

    @property
    def done(self) -> bool:
        return self._task is not None and self._task.done()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"watch {self.path}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass

    async def _run(self) -> None:
        backoff = 1.0
        while True:
            try:
                await self._watch_once()
                backoff = 1.0
            except asyncio.CancelledError:
                raise
            except _Forbidden:
                self.forbidden = True
                if self.token is SERVICE_ACCOUNT:
                    log.warning("the service account may not watch %s: re-reading it after a "
                                "TTL instead", self.path)
                return
            except (ApiError, OSError, ValueError, asyncio.TimeoutError) as exc:
                log.info("watch on %s ended (%s); reopening in %.0fs", self.path,
                         type(exc).__name__, backoff)
            finally:
                self.active = False
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_S)

    async def _watch_once(self) -> None:
        # Bookmarks: an API server that holds the headers back until the first event (the
        # sandbox's does, for a watched object that does not exist yet) sends one at once.
        params = {**self.params, "watch": "true", "timeoutSeconds": str(WATCH_SECONDS),
                  "allowWatchBookmarks": "true"}
        async with self.kube.open("GET", self.path, token=self.token, params=params,
                                  timeout=self.kube.timeout(read=WATCH_SECONDS + 30)) as resp:
            if resp.status in (401, 403):
                raise _Forbidden()
            if resp.status != 200:
                raise ApiError(502, f"watch answered {resp.status}")
            self.active = True
            await self.on_change(None)  # resync: whatever happened while we were away
            async for line in resp.content:
                if not line.strip():
                    continue
                event = json.loads(line)
                kind = event.get("type")
                if kind == "ERROR":
                    raise ApiError(502, "watch error event")
                if kind != "BOOKMARK":
                    await self.on_change(event)


class _Forbidden(Exception):
    pass
