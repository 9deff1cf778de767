"""Ray job driver logs (COMPAT.md §3 "Ray"): `GET /api/ray-job-logs/:ns/:pod/:container/:jobId`.

The old backend exec'ed `cat /tmp/ray/session_latest/logs/job-driver-<jobId>.log` in the pod.
odh-core reads the container's log through the API server instead (`pods/log` with the user's
token, so the user needs `get pods/log` there and no `pods/exec`): the last `TAIL_LINES` lines,
at most `MAX_BYTES`, keeping the lines that belong to the job, i.e. that carry its id (Ray's
job manager and the driver name it, e.g. `raysubmit_...`). Nothing is executed in the pod.
"""
from __future__ import annotations

import asyncio
import json
import re
from typing import TYPE_CHECKING

from odh_core import ApiError, Route

from .base import DashboardHandler
from .names import check_label, check_subdomain

if TYPE_CHECKING:  # pragma: no cover
    import aiohttp

SAFE_JOB_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
TAIL_LINES = 20_000
MAX_BYTES = 16 * 2**20


def job_lines(log: bytes, job_id: str) -> bytes:
    """The lines of `log` that name `job_id` as a whole token (so `job1` does not match
    `job10`)."""
    token = re.compile(rb"(?<![A-Za-z0-9_-])" + re.escape(job_id.encode()) + rb"(?![A-Za-z0-9_-])")
    return b"".join(line for line in log.splitlines(keepends=True) if token.search(line))


class RayJobLogsHandler(DashboardHandler):
    async def get(self, namespace: str, pod: str, container: str, job_id: str) -> None:
        """text/plain: the lines of the pod container's log (its last 20000 lines) that
        carry the job id. 400 for a bad namespace, pod, container or job id (`^[A-Za-z0-9_-]
        {1,64}$`); the API server's 403/404 when the user may not read that pod's log or it
        does not exist.

        As the user (pods/log read with the caller's token)."""
        import aiohttp

        check_label(namespace, "namespace")
        check_subdomain(pod, "pod name")
        check_label(container, "container name")
        if not SAFE_JOB_ID.match(job_id):
            raise ApiError(400, "Invalid jobId: letters, digits, '_' and '-' only, at most 64",
                           error="Invalid jobId")
        path = f"/api/v1/namespaces/{namespace}/pods/{pod}/log"
        params = {"container": container, "tailLines": str(TAIL_LINES)}
        truncated = False
        try:
            async with self.kube.open("GET", path, token=self.token, params=params,
                                      headers={"Accept": "text/plain"}) as resp:
                body = await resp.content.read(MAX_BYTES + 1)
                if resp.status >= 400:
                    raise _log_error(resp.status, body)
                if len(body) > MAX_BYTES:  # keep whole lines only
                    body, truncated = body[:MAX_BYTES].rsplit(b"\n", 1)[0] + b"\n", True
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise ApiError(502, f"Failed to read logs: {type(exc).__name__}",
                           error="Failed to read logs") from None
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        if truncated:
            self.set_header("X-Log-Truncated", "true")
        self.finish(job_lines(body, job_id))


def _log_error(status: int, body: bytes) -> ApiError:
    message = body[:300].decode("utf-8", "replace").strip()
    try:
        parsed = json.loads(body)
        if isinstance(parsed, dict) and parsed.get("message"):
            message = str(parsed["message"])
    except ValueError:
        pass
    return ApiError(status if status < 500 else 502,
                    message or f"the API server answered {status}", error="Failed to read logs")


def ray_routes() -> list[Route]:
    return [
        Route(r"/api/ray-job-logs/([^/]+)/([^/]+)/([^/]+)/([^/]+)", RayJobLogsHandler,
              params=("namespace", "pod", "container", "jobId"),
              description="A Ray job's driver log lines from the pod's log, as you."),
    ]
