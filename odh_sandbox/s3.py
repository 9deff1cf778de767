"""Embedded S3 for sandbox mode and tests: moto's S3 server on loopback.

Only moto's *server* mode works with aiobotocore (the in-process mock patches botocore's
sync HTTP layer, which aiobotocore does not use), so clients always talk real HTTP to it.

Two modes:

``mode="thread"`` (default)
    moto's WSGI app served by werkzeug in a daemon thread of this process. Cheap to start.
    moto keeps its backends in module globals, so **every thread-mode instance in one process
    shares one S3 namespace** (bucket names are global across moto accounts, as in AWS). The
    default bucket is therefore created idempotently, and tests that share a process should use
    distinct bucket or key names. State survives :meth:`SandboxS3.restart`.

``mode="process"``
    The same server in a child process (``python -m odh_sandbox.s3``). Each instance is
    fully isolated, :meth:`SandboxS3.restart` loses all state (a real "S3 restarted" fault),
    and moto's memory (it holds whole objects, several times over while completing a
    multipart upload) is not counted in the caller's RSS, which is what benchmarks need.
"""

from __future__ import annotations

import argparse
import http.client
import logging
import os
import subprocess
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from werkzeug.serving import BaseWSGIServer

log = logging.getLogger("odh.sandbox.s3")

Mode = Literal["thread", "process"]

# How long start() waits for the server to answer before giving up.
_START_TIMEOUT_S = 30.0


def _make_moto_server(host: str, port: int) -> BaseWSGIServer:
    """Bind a threaded werkzeug server running moto's dispatcher app (not yet serving)."""
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    class _QuietHandler(MotoRequestHandler):
        # werkzeug logs one INFO line per request on the "werkzeug" logger, which ends up on
        # stderr. Silencing it per handler class keeps the process-wide logger untouched.
        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            return None

        def log(self, type: str, message: str, *args: Any) -> None:
            log.debug("moto: " + message, *args)

    app = DomainDispatcherApplication(create_backend_app)
    return make_server(host, port, app, threaded=True, request_handler=_QuietHandler)


def _wait_until_answering(host: str, port: int, deadline: float) -> None:
    """Poll until an HTTP request to the server gets any response (readiness, not timing)."""
    delay = 0.01
    last: Exception | None = None
    while time.monotonic() < deadline:
        conn = http.client.HTTPConnection(host, port, timeout=5)
        try:
            conn.request("GET", "/")
            conn.getresponse().read()
            return
        except OSError as exc:
            last = exc
        finally:
            conn.close()
        time.sleep(delay)
        delay = min(delay * 2, 0.25)
    raise RuntimeError(f"sandbox S3 on {host}:{port} did not answer in time: {last!r}")


class SandboxS3:
    """moto's S3 server on loopback with a default bucket. See the module docstring."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        default_bucket: str = "odh-sandbox",
        access_key: str = "sandbox-access-key",
        secret_key: str = "sandbox-secret-key",
        region: str = "us-east-1",
        mode: Mode = "thread",
    ) -> None:
        if mode not in ("thread", "process"):
            raise ValueError(f"mode must be 'thread' or 'process', not {mode!r}")
        self.host = host
        self.port = port  # 0 until start() has bound one; then kept for restart()
        self.default_bucket = default_bucket
        self.access_key = access_key
        self.secret_key = secret_key
        self.region = region
        self.mode: Mode = mode
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._client: Any = None  # boto3 S3 client for the helpers, created lazily

    # -- lifecycle ----------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        if not self.port:
            raise RuntimeError("SandboxS3 is not started")
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None or self._proc is not None

    def start(self) -> SandboxS3:
        """Start the server, wait until it answers, create the default bucket; returns self."""
        if self.running:
            raise RuntimeError("SandboxS3 already started")
        deadline = time.monotonic() + _START_TIMEOUT_S
        if self.mode == "thread":
            self._start_thread()
        else:
            self._start_process()
        _wait_until_answering(self.host, self.port, deadline)
        if self.default_bucket:
            self.ensure_bucket(self.default_bucket)
        log.info("sandbox S3 (%s mode) at %s, default bucket %r",
                 self.mode, self.endpoint, self.default_bucket)
        return self

    def _start_thread(self) -> None:
        server = _make_moto_server(self.host, self.port)
        self.port = int(server.server_address[1])
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, name=f"sandbox-s3-{self.port}", daemon=True
        )
        self._thread.start()

    def _start_process(self) -> None:
        cmd = [sys.executable, "-m", "odh_sandbox.s3", "--host", self.host,
               "--port", str(self.port)]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        assert proc.stdout is not None
        # The child prints exactly one line, "PORT <n>", once its socket is bound (so port 0
        # works without a find-a-free-port race); EOF means it died.
        line = proc.stdout.readline().decode().strip()
        proc.stdout.close()
        if not line.startswith("PORT "):
            proc.wait(timeout=10)
            raise RuntimeError(f"sandbox S3 process failed to start (exit {proc.returncode})")
        self.port = int(line.split()[1])
        self._proc = proc

    def stop(self) -> None:
        """Stop the server and release the port. Idempotent."""
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._server is not None:
            self._server.shutdown()
            # ThreadedMotoServer.stop() skips this, which keeps the port bound and makes a
            # restart on the same port fail.
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=10)
            self._proc = None

    def restart(self) -> None:
        """Stop and start again on the same port (process mode loses all objects)."""
        if not self.port:
            raise RuntimeError("SandboxS3 was never started")
        self.stop()
        self.start()

    def __enter__(self) -> SandboxS3:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- helpers for tests (sync boto3: call them from tests, never from a request handler) ---

    def client(self) -> Any:
        """A boto3 S3 client for this endpoint (owned by this object, closed by stop())."""
        if self._client is None:
            import boto3
            from botocore.config import Config

            self._client = boto3.client(
                "s3",
                endpoint_url=self.endpoint,
                aws_access_key_id=self.access_key,
                aws_secret_access_key=self.secret_key,
                region_name=self.region,
                config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 5}),
            )
        return self._client

    def client_kwargs(self) -> dict[str, str]:
        """Keyword arguments for ``session.create_client("s3", **kw)`` (aiobotocore/boto3)."""
        return {
            "endpoint_url": self.endpoint,
            "aws_access_key_id": self.access_key,
            "aws_secret_access_key": self.secret_key,
            "region_name": self.region,
        }

    def ensure_bucket(self, bucket: str) -> None:
        """Create ``bucket`` unless it exists (other thread-mode instances share buckets)."""
        client = self.client()
        try:
            if self.region == "us-east-1":
                client.create_bucket(Bucket=bucket)
            else:
                client.create_bucket(
                    Bucket=bucket,
                    CreateBucketConfiguration={"LocationConstraint": self.region},
                )
        except client.exceptions.BucketAlreadyOwnedByYou:
            pass
        except client.exceptions.BucketAlreadyExists:
            pass

    def open_multipart_uploads(self, bucket: str | None = None) -> list[dict[str, Any]]:
        """Multipart uploads still open in ``bucket`` (default bucket if None): leak checks."""
        client = self.client()
        uploads: list[dict[str, Any]] = []
        paginator = client.get_paginator("list_multipart_uploads")
        for page in paginator.paginate(Bucket=bucket or self.default_bucket):
            uploads.extend(page.get("Uploads", []))
        return uploads


def _serve_main(argv: list[str] | None = None) -> int:
    """Child-process entry for mode="process": bind, report the port, serve until SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m odh_sandbox.s3")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    server = _make_moto_server(args.host, args.port)
    sys.stdout.write(f"PORT {server.server_address[1]}\n")
    sys.stdout.flush()
    os.close(sys.stdout.fileno())  # nothing else goes there; the parent closed its end
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    import signal

    # SIGTERM from SandboxS3.stop(): leave serve_forever() through KeyboardInterrupt so the
    # socket is closed cleanly.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    raise SystemExit(_serve_main())
