"""When to try a deferred message again."""

from __future__ import annotations

import random


def backoff_delay(attempt: int, *, base: float, cap: float,
                  rng: random.Random | None = None) -> float:
    """Exponential backoff with "equal jitter": half the step fixed, half random.

    The fixed half keeps retries spread out in time; the random half keeps many
    messages deferred by the same outage from coming back at the same instant.
    `attempt` counts from 1 (the first retry).
    """
    step = min(cap, base * 2 ** max(0, attempt - 1))
    return step / 2 + (rng or random).uniform(0, step / 2)
