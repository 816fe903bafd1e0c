"""When to try a deferred message again, and when to stop: the backoff and the retry
horizon, for transactional mail and digests alike."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from mailer.delivery.verdict import Verdict, gave_up
from mailer.models import utcnow


def backoff_delay(attempt: int, *, base: float, cap: float,
                  rng: random.Random | None = None) -> float:
    """Exponential backoff with "equal jitter": half the step fixed, half random.

    The fixed half keeps retries spread out in time; the random half keeps many
    messages deferred by the same outage from coming back at the same instant.
    `attempt` counts from 1 (the first retry).
    """
    step = min(cap, base * 2 ** max(0, attempt - 1))
    return step / 2 + (rng or random).uniform(0, step / 2)


@dataclass(frozen=True)
class RetryPolicy:
    """Deferred messages come back after `backoff_delay`, until `horizon_seconds` after
    they were queued; then they are recorded as failed."""

    base_seconds: float
    max_seconds: float
    horizon_seconds: float

    def delay(self, attempt: int) -> float:
        """Seconds until the next try of a message tried `attempt` times, horizon aside
        (a digest's retries end with its window instead)."""
        return backoff_delay(attempt, base=self.base_seconds, cap=self.max_seconds)

    def next_try(self, attempt: int, since: datetime | None,
                 now: datetime | None = None) -> float | None:
        """Seconds until the next attempt, or None when it would fall past the horizon."""
        delay = self.delay(attempt)
        if since is None:
            return delay
        now = now or utcnow()
        if now + timedelta(seconds=delay) > since + timedelta(seconds=self.horizon_seconds):
            return None
        return delay

    def schedule(self, judged: Verdict, attempt: int, since: datetime | None) -> Verdict:
        """A deferral that went out waits its backoff (`wait`) or, past the horizon,
        fails: what the attempt log and the ledger then record."""
        if not (judged.retry and judged.went_out):
            return judged
        next_try = self.next_try(attempt, since)
        if next_try is None:
            return gave_up(judged, attempt)
        return replace(judged, wait=next_try)
