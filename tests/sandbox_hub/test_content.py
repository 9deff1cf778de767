import hashlib

import pytest

from odh_sandbox.hub import BytesFile, SizedFile, parse_range
from odh_sandbox.hub.content import BLOCK


def test_sized_file_is_deterministic_and_random_access() -> None:
    f = SizedFile(size=5 * BLOCK + 17, seed=3)
    whole = b"".join(f.iter_bytes())
    assert len(whole) == f.size
    assert whole == b"".join(SizedFile(size=f.size, seed=3).iter_bytes())
    assert whole != b"".join(SizedFile(size=f.size, seed=4).iter_bytes())
    for start, end in [(0, 1), (BLOCK - 3, BLOCK + 5), (3 * BLOCK + 1, f.size), (7, 7)]:
        assert f.read(start, end - start) == whole[start:end]
    # blocks differ from each other, so a block served at the wrong offset is detectable
    assert whole[:BLOCK] != whole[BLOCK:2 * BLOCK]


def test_chunks_are_bounded() -> None:
    f = SizedFile(size=10 * BLOCK, seed=1)
    assert max(len(c) for c in f.iter_bytes(5, None, 1000)) <= 1000
    assert hashlib.sha256(b"".join(BytesFile(b"abc" * 1000).iter_bytes(chunk=7))).digest() == \
        hashlib.sha256(b"abc" * 1000).digest()


@pytest.mark.parametrize(("header", "expected"), [
    (None, None), ("bytes=0-9", (0, 10)), ("bytes=90-", (90, 100)), ("bytes=-10", (90, 100)),
    ("bytes=95-200", (95, 100)), ("bytes=100-", "invalid"), ("bytes=5-2", "invalid"),
    ("bytes=-0", "invalid"), ("bytes=0-1,5-6", None), ("items=0-1", None),
])
def test_parse_range(header: str | None, expected: object) -> None:
    assert parse_range(header, 100) == expected
