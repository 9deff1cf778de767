"""`serve --reload`: re-exec the server when a loaded module or the config file changes.

Like tornado.autoreload, but the config file's stamp is taken when the settings are read (not
half a second after the server starts), so an edit made while the server boots is not missed.
"""
from __future__ import annotations

import logging
import os
import sys
from typing import Iterable

from tornado.ioloop import PeriodicCallback

log = logging.getLogger("odh.reload")


def _mtime(path: str) -> float | None:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


class Reloader:
    def __init__(self, extra_stamps: dict[str, float | None] | None = None):
        self.stamps: dict[str, float | None] = dict(extra_stamps or {})
        for path in self._module_files():
            self.stamps.setdefault(path, _mtime(path))
        self.callback: PeriodicCallback | None = None

    @staticmethod
    def _module_files() -> Iterable[str]:
        for module in list(sys.modules.values()):
            path = getattr(module, "__file__", None)
            if isinstance(path, str) and path.endswith(".py"):
                yield path

    def changed(self) -> str | None:
        for path, stamp in self.stamps.items():
            if _mtime(path) != stamp:
                return path
        return None

    def start(self, interval_ms: int = 500) -> None:
        self.callback = PeriodicCallback(self._check, interval_ms)
        self.callback.start()

    def _check(self) -> None:
        path = self.changed()
        if path is None:
            return
        log.warning("%s changed: restarting", path)
        logging.shutdown()
        # Non-inheritable sockets close on exec, so the new process can bind the same port.
        os.execv(sys.executable, [sys.executable, "-m", "odh_core", *sys.argv[1:]])


def config_stamp(path: str | None) -> dict[str, float | None]:
    return {path: _mtime(path)} if path else {}
