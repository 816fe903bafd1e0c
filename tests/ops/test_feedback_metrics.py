"""`/metrics` for what comes back, read from the `feedback` table and the ledger on a
real database (SQLite, and PostgreSQL where configured): every series from 0, counts
as the table grows, refusals by domain bounded, and the recent runs' figures."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from sqlalchemy import update

from mailer import services
from mailer.config import Settings
from mailer.delivery.ledger import JobStatus
from mailer.inbound.feedback import FeedbackEvent
from mailer.inbound.policy import OUTCOMES
from mailer.models import DeliveryRow, utcnow
from mailer.ops.feedback_metrics import FeedbackCollector
from mailer.stores import Stores
from tests.ops.test_metrics import samples

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
def stores(make_settings: Callable[..., Settings], database_url: str, sessions: object
           ) -> Iterator[Stores]:
    with services.stores(make_settings(database_url=database_url), seed=False) as opened:
        yield opened


def scrape(stores: Stores) -> Samples:
    registry = CollectorRegistry()
    registry.register(FeedbackCollector(stores))
    return samples(generate_latest(registry).decode())


def total(kind: str, type_: str, action: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return ("mailer_feedback_total", (("action", action), ("kind", kind), ("type", type_)))


def test_every_series_is_there_from_zero(stores: Stores) -> None:
    got = scrape(stores)
    for kind in ("share", "confirm", "digest", "none"):
        for type_, action in OUTCOMES:
            assert got[total(kind, type_, action)] == 0
    assert got[("mailer_feedback_refusals_last_day", (("domain", "other"),))] == 0
    for name in ("sent", "hard_bounces", "complaints"):
        assert got[(f"mailer_digest_run_{name}", (("run", ""),))] == 0, "no run: one, at 0"


def test_counts_grow_with_the_table(stores: Stores) -> None:
    stores.feedback.record(
        [FeedbackEvent("bounce", "ours", "suppressed", address="a@example.org", kind="share",
                       message_id="m1"),
         FeedbackEvent("complaint", "forged", "untrusted", address="b@example.org")]
        + [FeedbackEvent("bounce", "ours", "blames-us", address=f"r@d{i}.example", kind="share",
                         message_id=f"b{i}") for i in range(12)]
        + [FeedbackEvent("bounce", "ours", "blames-us", address="r@gmail.com", kind="share",
                         message_id="g")] * 3)
    stores.feedback.record([FeedbackEvent("bounce", "ours", "blames-us",
                                          address="old@yahoo.com", kind="share")],
                           at=utcnow() - timedelta(days=2))
    got = scrape(stores)
    assert got[total("share", "bounce", "suppressed")] == 1
    assert got[total("none", "complaint", "untrusted")] == 1
    assert got[total("share", "bounce", "blames-us")] == 16, "the counter counts every day"
    refusals = {labels[0][1]: n for (name, labels), n in got.items()
                if name == "mailer_feedback_refusals_last_day"}
    assert len(refusals) == 11 and refusals["gmail.com"] == 3 and refusals["other"] == 3
    assert "yahoo.com" not in refusals, "the gauge holds the last 24 hours"


def test_recent_runs_have_their_figures(stores: Stores) -> None:
    now = utcnow()
    stores.runs.open("run-new", "2026-11-26", now)
    stores.runs.open("run-old", "2026-11-20", now - timedelta(days=5))
    ids = [f"j{i}" for i in range(4)]
    stores.ledger.create_many([(i, "digest", f"{i}@example.org", "2026-11-26", None)
                               for i in ids])
    with stores.sessions.begin() as session:
        session.execute(update(DeliveryRow).where(DeliveryRow.id.in_(ids))
                        .values(run_id="run-new"))
    for job_id in ids[:3]:
        stores.ledger.mark(job_id, JobStatus.SENT, "250 ok")
    stores.ledger.mark_bounced("j0", "bounced: 5.1.1")
    stores.feedback.record([FeedbackEvent("bounce", "ours", "suppressed", address="j0@example.org",
                                          message_id="j0", kind="digest", run_id="run-new"),
                            FeedbackEvent("complaint", "ours", "complained",
                                          address="j1@example.org", message_id="j1",
                                          kind="digest", run_id="run-new")])
    got = scrape(stores)
    run = (("run", "run-new"),)
    assert (got[("mailer_digest_run_sent", run)], got[("mailer_digest_run_hard_bounces", run)],
            got[("mailer_digest_run_complaints", run)]) == (3, 1, 1)
    assert ("mailer_digest_run_sent", (("run", "run-old"),)) not in got
    assert ("mailer_digest_run_sent", (("run", ""),)) not in got
