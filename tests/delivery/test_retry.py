from __future__ import annotations

import random

from mailer.delivery.retry import backoff_delay


def test_backoff_grows_then_caps_with_jitter() -> None:
    rng = random.Random(7)
    for attempt, step in [(1, 10), (2, 20), (3, 40), (4, 80), (10, 300)]:
        delays = [backoff_delay(attempt, base=10, cap=300, rng=rng) for _ in range(200)]
        assert min(delays) >= step / 2
        assert max(delays) <= step
        assert len(set(delays)) > 100, "jitter spreads retries"
