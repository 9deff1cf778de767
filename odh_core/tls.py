"""Serve HTTPS directly, and pick up a rotated certificate without a restart.

The SSLContext given to Tornado is kept; loading the new chain into it makes every new
handshake use the new certificate while established connections carry on.
"""
from __future__ import annotations

import logging
import os
import ssl

from .config import TlsConfig

log = logging.getLogger("odh.tls")


class TlsReloader:
    def __init__(self, cfg: TlsConfig):
        if not (cfg.cert and cfg.key):
            raise ValueError("server.tls needs both cert and key")
        self.cert, self.key = cfg.cert, cfg.key
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.minimum_version = ssl.TLSVersion.TLSv1_2
        self._stamp = self._mtimes()
        self.context.load_cert_chain(self.cert, self.key)

    def _mtimes(self) -> tuple[float, float]:
        return (os.stat(self.cert).st_mtime_ns, os.stat(self.key).st_mtime_ns)

    def check(self) -> bool:
        """Reload when either file changed; a half-written pair is retried on the next check."""
        try:
            stamp = self._mtimes()
            if stamp == self._stamp:
                return False
            self.context.load_cert_chain(self.cert, self.key)
        except (OSError, ssl.SSLError) as exc:
            log.warning("certificate reload failed (keeping the old one): %s", exc)
            return False
        self._stamp = stamp
        log.info("reloaded TLS certificate %s", self.cert)
        return True
