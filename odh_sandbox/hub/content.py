"""File contents for the sandbox hub: inline bytes, or large deterministic generated files.

A :class:`SizedFile` never exists in memory as a whole. Its bytes are a pure function of
``(seed, offset)``: block ``i`` (64 KiB) is a slice of a 1 MiB pseudo-random pool derived from
the seed, starting at a position derived from ``(seed, i)``. Any offset is computable in O(1),
so Range requests and resumed downloads work, and a block placed at the wrong offset is caught
by a byte comparison or a hash. Slicing is a memcpy, so serving is not CPU-bound on hashing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

BLOCK = 64 * 1024
_POOL = 1024 * 1024


class FileSource(Protocol):
    """Anything the hub can serve: a size, random access to bytes, an optional LFS flag."""

    size: int
    lfs: bool | None

    def iter_bytes(self, start: int = 0, end: int | None = None,
                   chunk: int = BLOCK) -> Iterator[bytes]: ...


@dataclass(frozen=True, eq=False)
class BytesFile:
    """A small file held in memory (config.json, tokenizer.json, ...)."""

    data: bytes
    lfs: bool | None = None  # None: decided by the model's LFS rules

    @property
    def size(self) -> int:  # type: ignore[override]
        return len(self.data)

    def iter_bytes(self, start: int = 0, end: int | None = None,
                   chunk: int = BLOCK) -> Iterator[bytes]:
        end = self.size if end is None else min(end, self.size)
        view = memoryview(self.data)
        for pos in range(start, end, chunk):
            yield bytes(view[pos:min(pos + chunk, end)])


@dataclass(frozen=True, eq=False)
class SizedFile:
    """A large file of ``size`` deterministic bytes generated from ``seed`` on the fly."""

    size: int
    seed: int = 0
    lfs: bool | None = None
    # The 1 MiB pool (+ one block so a block never wraps), built on first use.
    _pool: list[bytes] = field(default_factory=list, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.size < 0:
            raise ValueError("size must be >= 0")

    def _get_pool(self) -> bytes:
        if not self._pool:
            pool = hashlib.shake_256(b"odh-sandbox-hub:%d" % self.seed).digest(_POOL + BLOCK)
            self._pool.append(pool)
        return self._pool[0]

    def _block(self, index: int) -> bytes:
        pool = self._get_pool()
        key = hashlib.blake2b(b"%d:%d" % (self.seed, index), digest_size=8).digest()
        start = int.from_bytes(key, "big") % _POOL
        return pool[start:start + BLOCK]

    def read(self, offset: int, length: int) -> bytes:
        return b"".join(self.iter_bytes(offset, offset + length))

    def iter_bytes(self, start: int = 0, end: int | None = None,
                   chunk: int = BLOCK) -> Iterator[bytes]:
        """Bytes ``[start, end)`` as chunks of at most ``chunk`` bytes (block-aligned reads)."""
        end = self.size if end is None else min(end, self.size)
        pos = start
        while pos < end:
            index, within = divmod(pos, BLOCK)
            take = min(BLOCK - within, end - pos, chunk)
            yield self._block(index)[within:within + take]
            pos += take


def as_source(value: FileSource | bytes | str) -> FileSource:
    if isinstance(value, str):
        return BytesFile(value.encode())
    if isinstance(value, (bytes, bytearray, memoryview)):
        return BytesFile(bytes(value))
    return value


def sha256_of(source: FileSource) -> str:
    """Streaming sha256 (bounded memory whatever the size)."""
    digest = hashlib.sha256()
    for chunk in source.iter_bytes(0, None, 1024 * 1024):
        digest.update(chunk)
    return digest.hexdigest()


def git_blob_sha1(source: FileSource) -> str:
    """The git object id of a regular (non-LFS) file: sha1 of ``blob <size>\\0<content>``."""
    digest = hashlib.sha1(b"blob %d\0" % source.size)
    for chunk in source.iter_bytes(0, None, 1024 * 1024):
        digest.update(chunk)
    return digest.hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    """The git-lfs pointer file git stores in place of an LFS file."""
    return (f"version https://git-lfs.github.com/spec/v1\n"
            f"oid sha256:{sha256}\nsize {size}\n").encode()
