"""The `ImportJob` custom resource: the request in `spec`, the progress in `status`.

    apiVersion: odh-core.opendatahub.io/v1alpha1
    kind: ImportJob
    spec:   id, owner, via, requestedAt, executor, cancel,
            source {repo, revision, commit}, include, exclude,
            destination {bucket, prefix, secretName},
            files [{path, size, sha256, lfs, key}]
    status: phase (Pending|Running|Completed|Failed|Cancelled), message, holder, takeovers,
            startTime, completionTime,
            files {<path>: {state, bytes, sha256, uploadId, partSize, parts, attempts, error}}

`parts` counts the multipart parts known complete (1..parts); the parts themselves (ETags)
are read back from S3 with ListParts when another replica resumes, so `status` stays small
whatever the model's size. `Job` is the read-only view every replica builds from its watch.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

GROUP = "odh-core.opendatahub.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "ImportJob"
PLURAL = "importjobs"
NAME_PREFIX = "hf-import-"
MANAGED_BY = {"app.kubernetes.io/managed-by": "odh-core", "app.kubernetes.io/component": "import"}

FINAL_PHASES = ("Completed", "Failed", "Cancelled")
# The API's lower-case job states (unchanged from the in-memory jobs: clients rely on them).
PHASE_STATUS = {"Pending": "queued", "Running": "running", "Completed": "completed",
                "Failed": "failed", "Cancelled": "cancelled"}
FILE_DONE = ("completed", "skipped", "failed", "cancelled")


def name_for(job_id: str) -> str:
    return NAME_PREFIX + job_id


def micro_time(ts: float | None = None) -> str:
    """RFC 3339 with microseconds (Kubernetes MicroTime)."""
    dt = datetime.fromtimestamp(time.time() if ts is None else ts, timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: Any) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def owner_reference(obj: dict[str, Any], controller: bool = True) -> dict[str, Any]:
    """An ownerReference to `obj` (deleting it garbage-collects the dependent)."""
    meta = obj["metadata"]
    return {"apiVersion": obj.get("apiVersion", API_VERSION), "kind": obj.get("kind", KIND),
            "name": meta["name"], "uid": meta["uid"], "controller": controller,
            "blockOwnerDeletion": False}


@dataclass
class FileView:
    path: str
    key: str
    size: int
    sha256: str | None
    lfs: bool
    status: str = "queued"
    loaded: int = 0
    attempts: int = 0
    error: str | None = None

    @property
    def done(self) -> bool:
        return self.status in FILE_DONE

    def public(self) -> dict[str, Any]:
        return {"path": self.path, "key": self.key, "size": self.size, "sha256": self.sha256,
                "lfs": self.lfs, "status": self.status, "loaded": self.loaded,
                "attempts": self.attempts, "error": self.error}


@dataclass
class Job:
    """One ImportJob as every replica sees it (built from the watched object)."""

    id: str
    name: str
    owner: str
    via: str
    repo: str
    revision: str
    commit: str
    bucket: str
    prefix: str
    include: list[str]
    exclude: list[str]
    executor: str
    cancel_requested: bool
    phase: str
    error: str | None
    holder: str
    takeovers: int
    requested: float
    finished: float | None
    files: dict[str, FileView] = field(default_factory=dict)
    resource_version: str = ""

    @classmethod
    def from_object(cls, obj: dict[str, Any]) -> "Job":
        meta, spec = obj.get("metadata") or {}, obj.get("spec") or {}
        status = obj.get("status") or {}
        source, dest = spec.get("source") or {}, spec.get("destination") or {}
        progress = status.get("files") or {}
        files: dict[str, FileView] = {}
        for f in spec.get("files") or []:
            st = progress.get(f["path"]) or {}
            files[f["path"]] = FileView(
                f["path"], f["key"], int(f["size"]), f.get("sha256"), bool(f.get("lfs")),
                status=st.get("state", "queued"), loaded=int(st.get("bytes", 0)),
                attempts=int(st.get("attempts", 0)), error=st.get("error"))
        return cls(
            id=spec.get("id", ""), name=meta.get("name", ""), owner=spec.get("owner", ""),
            via=spec.get("via", "api"), repo=source.get("repo", ""),
            revision=source.get("revision", ""), commit=source.get("commit", ""),
            bucket=dest.get("bucket", ""), prefix=dest.get("prefix", ""),
            include=list(spec.get("include") or []), exclude=list(spec.get("exclude") or []),
            executor=spec.get("executor", "replica"), cancel_requested=bool(spec.get("cancel")),
            phase=status.get("phase", "Pending"), error=status.get("message"),
            holder=status.get("holder", ""), takeovers=int(status.get("takeovers", 0)),
            requested=parse_time(spec.get("requestedAt")) or 0.0,
            finished=parse_time(status.get("completionTime")), files=files,
            resource_version=meta.get("resourceVersion", ""))

    @property
    def status(self) -> str:
        return PHASE_STATUS.get(self.phase, "queued")

    @property
    def done(self) -> bool:
        return self.phase in FINAL_PHASES

    def totals(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for f in self.files.values():
            counts[f.status] = counts.get(f.status, 0) + 1
        return {"files": len(self.files), "bytes": sum(f.size for f in self.files.values()),
                "loaded": sum(f.loaded for f in self.files.values()), "byStatus": counts}

    def public(self, with_files: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id, "name": self.name, "owner": self.owner, "repo": self.repo,
            "revision": self.revision, "commit": self.commit, "bucket": self.bucket,
            "prefix": self.prefix, "include": self.include, "exclude": self.exclude,
            "status": self.status, "error": self.error, "executor": self.executor,
            "holder": self.holder or None, "takeovers": self.takeovers,
            "created": _iso(self.requested), "finished": _iso(self.finished),
            "totals": self.totals()}
        if with_files:
            out["files"] = [f.public() for f in self.files.values()]
        return out


def _iso(ts: float | None) -> str | None:
    if not ts:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def compat_progress(job: Job) -> dict[str, Any]:
    """ODH-TEC's `{"<file>": {loaded, status, total}}`; failed `{"<file>": {error, message}}`
    (COMPAT.md §2)."""
    out: dict[str, Any] = {}
    for f in job.files.values():
        if f.status in ("failed", "cancelled"):
            out[f.path] = {"error": f.status, "message": f.error or f.status}
        else:
            status = {"skipped": "completed"}.get(f.status, f.status)
            out[f.path] = {"loaded": f.loaded, "status": status, "total": f.size}
    return out
