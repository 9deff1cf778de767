"""Model repositories of the sandbox hub: files, commits, LFS metadata, access rules."""

from __future__ import annotations

import fnmatch
import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

from .content import FileSource, SizedFile, git_blob_sha1, lfs_pointer, sha256_of

# What the hub's default .gitattributes tracks with LFS, plus the hub's size rule.
DEFAULT_LFS_PATTERNS = (
    "*.safetensors", "*.bin", "*.pt", "*.pth", "*.ckpt", "*.h5", "*.onnx", "*.msgpack",
    "*.gguf", "*.pb", "*.tflite", "*.ot", "*.model", "*.zip", "*.tar.gz", "*.npy", "*.arrow",
    "*.parquet",
)
DEFAULT_LFS_THRESHOLD = 10 * 1024 * 1024

Gated = Literal[False, "auto", "manual"]


@dataclass(frozen=True)
class Entry:
    path: str
    source: FileSource
    size: int
    sha256: str
    blob_id: str  # git object id: of the content, or of the LFS pointer for LFS files
    lfs: bool

    @property
    def pointer_size(self) -> int:
        return len(lfs_pointer(self.sha256, self.size))

    def sibling(self, blobs: bool) -> dict[str, Any]:
        out: dict[str, Any] = {"rfilename": self.path}
        if blobs:
            out["blobId"] = self.blob_id
            out["size"] = self.size
            if self.lfs:
                out["lfs"] = {"sha256": self.sha256, "size": self.size,
                              "pointerSize": self.pointer_size}
        return out


@dataclass(frozen=True)
class Commit:
    sha: str
    files: dict[str, Entry]
    last_modified: datetime


@dataclass
class Repo:
    repo_id: str
    private: bool = False
    gated: Gated = False
    allowed_users: set[str] = field(default_factory=set)
    refs: dict[str, Commit] = field(default_factory=dict)  # branch/tag -> commit
    created_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    object_id: str = ""

    @property
    def owner(self) -> str:
        return self.repo_id.split("/", 1)[0]

    def commit_for(self, revision: str) -> Commit | None:
        if revision in self.refs:
            return self.refs[revision]
        for commit in self.refs.values():
            if commit.sha == revision:
                return commit
        return None

    def can_read(self, user: str | None) -> bool:
        """Private repos: owner namespace and allowed users. Gated: allowed users (files)."""
        return user is not None and (user == self.owner or user in self.allowed_users)


def is_lfs(path: str, source: FileSource, threshold: int,
           patterns: tuple[str, ...]) -> bool:
    if source.lfs is not None:
        return source.lfs
    name = path.rsplit("/", 1)[-1]
    return source.size >= threshold or any(fnmatch.fnmatch(name, p) for p in patterns)


def make_entry(path: str, source: FileSource, lfs: bool, sha256: str) -> Entry:
    if lfs:
        # git stores the pointer, not the content, so the blob id is the pointer's.
        pointer = lfs_pointer(sha256, source.size)
        blob_id = hashlib.sha1(b"blob %d\0" % len(pointer) + pointer).hexdigest()
    else:
        blob_id = git_blob_sha1(source)
    return Entry(path=path, source=source, size=source.size, sha256=sha256, blob_id=blob_id,
                 lfs=lfs)


def compute_sha256(source: FileSource, cache: dict[tuple[Any, ...], str]) -> str:
    """sha256 of ``source``, memoised in ``cache`` for generated files (same size+seed)."""
    key: tuple[Any, ...] | None = None
    if isinstance(source, SizedFile):
        key = ("sized", source.size, source.seed)
        if key in cache:
            return cache[key]
    digest = sha256_of(source)
    if key is not None:
        cache[key] = digest
    return digest


def commit_sha(repo_id: str, revision: str, files: dict[str, Entry]) -> str:
    """A deterministic 40-hex commit id from the repo, the ref and the file list."""
    digest = hashlib.sha1(f"{repo_id}\0{revision}".encode())
    for path in sorted(files):
        digest.update(f"\0{path}\0{files[path].blob_id}".encode())
    return digest.hexdigest()


def iso(ts: datetime) -> str:
    return ts.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
