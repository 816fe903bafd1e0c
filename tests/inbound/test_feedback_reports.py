"""The `feedback` table's reports on real databases (SQLite, and PostgreSQL where
configured): counts by kind, type and action; each run's hard bounces and complaints,
each message once; refusals that blame us by domain; untrusted mail by why."""

from __future__ import annotations

from datetime import timedelta

from mailer.db import SessionFactory
from mailer.inbound.feedback import (
    DomainCounts,
    FeedbackCount,
    FeedbackEvent,
    FeedbackStore,
    RunReturns,
)
from mailer.models import utcnow


def hard(address: str, message_id: str, run_id: str | None = "run-a") -> FeedbackEvent:
    return FeedbackEvent("bounce", "ours", "suppressed", address=address, status="5.1.1",
                         hard=True, message_id=message_id, kind="digest", run_id=run_id)


def blames_us(address: str) -> FeedbackEvent:
    return FeedbackEvent("bounce", "ours", "blames-us", address=address, status="5.7.1",
                         kind="share", message_id="m-" + address)


def test_counts_by_kind_type_and_action_since_a_time(sessions: SessionFactory) -> None:
    store = FeedbackStore(sessions)
    store.record([hard("a@example.org", "m1"), hard("b@example.org", "m2"),
                  FeedbackEvent("bounce", "forged", "untrusted", address="c@example.org")])
    store.record([hard("d@example.org", "m3")], at=utcnow() - timedelta(days=2))
    assert sorted(store.counts(), key=repr) == [FeedbackCount("", "bounce", "untrusted", 1),
                                      FeedbackCount("digest", "bounce", "suppressed", 3)]
    assert sorted(store.counts(utcnow() - timedelta(days=1)), key=repr) == [
        FeedbackCount("", "bounce", "untrusted", 1),
        FeedbackCount("digest", "bounce", "suppressed", 2)]


def test_run_returns_count_each_message_once(sessions: SessionFactory) -> None:
    store = FeedbackStore(sessions)
    store.record([hard("a@example.org", "m1"), hard("a@example.org", "m1"),  # a repeated DSN
                  hard("b@example.org", "m2"), hard("c@example.org", "m3", run_id="run-b"),
                  FeedbackEvent("complaint", "ours", "complained", address="e@example.org",
                                message_id="m4", kind="digest", run_id="run-a"),
                  FeedbackEvent("bounce", "ours", "counted", address="f@example.org",
                                message_id="m5", kind="digest", run_id="run-a")])
    assert store.run_returns(["run-a", "run-b", "run-c"]) == {
        "run-a": RunReturns(hard_bounces=2, complaints=1), "run-b": RunReturns(1, 0),
        "run-c": RunReturns(0, 0)}
    assert store.run_returns([]) == {}


def test_refusals_that_blame_us_by_domain_commonest_first(sessions: SessionFactory) -> None:
    store = FeedbackStore(sessions)
    store.record([blames_us(f"r{i}@gmail.com") for i in range(3)]
                 + [blames_us(f"r{i}@Yahoo.com") for i in range(2)]
                 + [blames_us("r@mail.ru"), blames_us("s@list.ru"),
                    hard("x@example.org", "m9")])
    store.record([blames_us("old@outlook.com")], at=utcnow() - timedelta(days=2))
    since = utcnow() - timedelta(days=1)
    assert store.domain_refusals(since, limit=2) == DomainCounts(
        (("gmail.com", 3), ("yahoo.com", 2)), 2)
    assert store.domain_refusals(since).other == 0


def test_untrusted_mail_by_why(sessions: SessionFactory) -> None:
    store = FeedbackStore(sessions)
    store.record([FeedbackEvent("bounce", token, "untrusted", address="a@example.org")
                  for token in ("forged", "forged", "stale", "missing")]
                 + [hard("b@example.org", "m1")])
    assert store.untrusted(utcnow() - timedelta(hours=1)) == {"forged": 2, "stale": 1,
                                                              "missing": 1}
