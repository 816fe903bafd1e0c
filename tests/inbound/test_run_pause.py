"""A digest run pauses itself when its mail comes back as hard bounces or complaints
over a threshold, through the intake, on real databases (SQLite, and PostgreSQL where
configured); the reason shows where a failure pause's does."""

from __future__ import annotations

from collections.abc import Callable
from uuid import uuid4

import pytest
from sqlalchemy import update

from mailer.config import Settings
from mailer.delivery.ledger import JobStatus
from mailer.digest.runs import RunStatus
from mailer.inbound.intake import FeedbackIntake
from mailer.inbound.report import Classified, FailedRecipient
from mailer.models import DeliveryRow, utcnow
from mailer.stores import Stores
from tests.inbound.test_intake import BOUNCES, dsn, paths


@pytest.fixture
def settings(make_settings: Callable[..., Settings], database_url: str) -> Settings:
    return make_settings(database_url=database_url, bounce_address=BOUNCES,
                         pause_feedback_minimum=20, pause_bounce_ratio=0.1,
                         pause_complaint_ratio=0.05)


def run_of(stores: Stores, sent: int, queued: int = 0) -> tuple[str, list[str]]:
    """A running digest run with `sent` messages gone out and `queued` still to go."""
    run_id = uuid4().hex
    stores.runs.open(run_id, "2026-11-26", utcnow())
    stores.runs.set_total(run_id, sent + queued)
    ids = [uuid4().hex for _ in range(sent + queued)]
    stores.ledger.create_many([(i, "digest", f"reader{n}@example.org", "2026-11-26", None)
                               for n, i in enumerate(ids)])
    with stores.sessions.begin() as session:  # as the planner files its rows
        session.execute(update(DeliveryRow).where(DeliveryRow.id.in_(ids)).values(run_id=run_id))
    for job_id in ids[:sent]:
        stores.ledger.mark(job_id, JobStatus.SENT, "250 2.0.0 queued")
    return run_id, ids


def bounce(settings: Settings, intake: FeedbackIntake, job_id: str) -> None:
    taken = intake.take(dsn(paths(settings).address(job_id), "5.1.1"))
    assert [e.action for e in taken.events] == ["suppressed"]


def test_hard_bounces_over_the_ratio_pause_the_run(
        settings: Settings, stores: Stores, intake: FeedbackIntake) -> None:
    run_id, ids = run_of(stores, sent=20, queued=5)
    for job_id in ids[:2]:  # 2 of 20: 10%, not over
        bounce(settings, intake, job_id)
    assert stores.runs.get(run_id).status is RunStatus.RUNNING
    bounce(settings, intake, ids[2])
    run = stores.runs.get(run_id)
    assert run.status is RunStatus.PAUSED
    assert run.reason == ("paused automatically: 3 of the 20 messages sent hard-bounced "
                          "(15.0%, over the 10.0% threshold)")
    # Resumed by an operator: judged afresh from then, not paused again at once for
    # the bounces that paused it, still arriving.
    stores.runs.resume(run_id)
    for job_id in ids[3:5]:
        bounce(settings, intake, job_id)
    assert stores.runs.get(run_id).status is RunStatus.RUNNING


def test_complaints_over_the_ratio_pause_the_run(
        settings: Settings, stores: Stores, intake: FeedbackIntake) -> None:
    run_id, ids = run_of(stores, sent=20)
    for job_id in ids[:2]:
        complaint = Classified("complaint", (FailedRecipient("", None, False),), None)
        taken = intake.take_attested(complaint, return_path=paths(settings).address(job_id))
        assert [e.action for e in taken.events] == ["complained"]
    run = stores.runs.get(run_id)
    assert run.status is RunStatus.PAUSED and "were reported as spam (10.0%" in run.reason


def test_too_few_sent_to_judge_and_other_runs_untouched(
        settings: Settings, stores: Stores, intake: FeedbackIntake) -> None:
    small, small_ids = run_of(stores, sent=10)
    other, _ = run_of(stores, sent=20)
    for job_id in small_ids[:5]:  # half of a run under the minimum: not judged
        bounce(settings, intake, job_id)
    assert stores.runs.get(small).status is RunStatus.RUNNING
    assert stores.runs.get(other).status is RunStatus.RUNNING


def test_a_paused_run_keeps_its_first_reason(
        settings: Settings, stores: Stores, intake: FeedbackIntake) -> None:
    run_id, ids = run_of(stores, sent=20)
    stores.runs.pause(run_id, "paused by an operator")
    for job_id in ids[:6]:
        bounce(settings, intake, job_id)
    assert stores.runs.get(run_id).reason == "paused by an operator"
