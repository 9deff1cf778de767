"""One embedded S3 (thread mode) for the session; tests use their own keys/buckets."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from odh_sandbox.s3 import SandboxS3


@pytest.fixture(scope="session")
def s3() -> Iterator[SandboxS3]:
    with SandboxS3() as server:
        yield server
