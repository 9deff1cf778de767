"""Exponential backoff with full jitter (so a fleet of replicas does not reconnect in step)."""
from __future__ import annotations

import random


def backoff_delay(attempt: int, initial: float, maximum: float) -> float:
    ceiling = min(maximum, initial * (2 ** min(attempt, 30)))
    return random.uniform(ceiling / 2, ceiling)
