"""The pause policy for what comes back of a run's mail, on its own: judged only once
enough went out, over its thresholds, with a reason a person can act on."""

from __future__ import annotations

from mailer.delivery.ledger import JobStatus
from mailer.digest.runs import FeedbackPausePolicy, went_out


def test_nothing_is_judged_before_the_minimum_went_out() -> None:
    policy = FeedbackPausePolicy(bounce_ratio=0.05, complaint_ratio=0.003, minimum=500)
    assert policy.verdict(499, 400, 400) is None
    assert policy.verdict(500, 25, 1) is None  # exactly at the thresholds: goes on


def test_each_threshold_pauses_with_its_reason() -> None:
    policy = FeedbackPausePolicy(bounce_ratio=0.05, complaint_ratio=0.003, minimum=500)
    assert policy.verdict(1000, 51, 0) == (
        "paused automatically: 51 of the 1000 messages sent hard-bounced (5.1%, over the "
        "5.0% threshold)")
    assert policy.breach(1000, 0, 4) == (
        "4 of the 1000 messages sent were reported as spam (0.4%, over the 0.3% threshold)")


def test_what_went_out_counts_the_bounced_too() -> None:
    assert went_out({JobStatus.SENT: 7, JobStatus.BOUNCED: 2, JobStatus.FAILED: 5}) == 9
