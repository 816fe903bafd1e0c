from __future__ import annotations

import random
from datetime import timedelta

from mailer.delivery.ledger import JobStatus
from mailer.delivery.retry import RetryPolicy, backoff_delay
from mailer.delivery.verdict import verdict
from mailer.errors import NotAttempted, TransientDeliveryError
from mailer.models import utcnow


def test_backoff_grows_then_caps_with_jitter() -> None:
    rng = random.Random(7)
    for attempt, step in [(1, 10), (2, 20), (3, 40), (4, 80), (10, 300)]:
        delays = [backoff_delay(attempt, base=10, cap=300, rng=rng) for _ in range(200)]
        assert min(delays) >= step / 2
        assert max(delays) <= step
        assert len(set(delays)) > 100, "jitter spreads retries"


def test_schedule_gives_a_deferral_its_backoff_until_the_horizon() -> None:
    policy = RetryPolicy(10, 300, 3600)
    deferred = verdict(TransientDeliveryError(451, "4.7.1 later"))
    waits = policy.schedule(deferred, 3, utcnow())
    assert waits.status is JobStatus.DEFERRED and 20 <= waits.wait <= 40
    given_up = policy.schedule(deferred, 3, utcnow() - timedelta(hours=2))
    assert given_up.status is JobStatus.FAILED and not given_up.retry
    assert given_up.reply == "gave up after 3 attempts: 451 4.7.1 later"
    held = verdict(NotAttempted(4.0, "no send slot"))
    assert policy.schedule(held, 3, utcnow() - timedelta(hours=2)) == held
    assert policy.schedule(verdict(None, "250 ok"), 3, None).status is JobStatus.SENT
