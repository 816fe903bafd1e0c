"""Deliverer: what happens between the relay's answer and the ledger, on a real
database, with the memory backend as the relay."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import select

from mailer import services
from mailer.config import Settings, SmtpConfig
from mailer.db import SessionFactory
from mailer.delivery.deliverer import Deliverer, Job
from mailer.delivery.ledger import DeliveryLedger, JobStatus
from mailer.delivery.retry import RetryPolicy
from mailer.delivery.suppression import REFUSED_REPLY, SuppressionStore
from mailer.errors import ServiceUnavailable
from mailer.models import DeliveryRow
from mailer.sending.backends.memory import MemoryBackend
from mailer.sending.backends.smtp import SmtpBackend
from mailer.sending.message import Envelope
from mailer.services import default_preferences, make_catalog, make_template_mail, make_tokens
from mailer.subscriptions.signup import ConfirmMail, submit_signup
from tests.sending.backends.contract import make_envelope
from tests.support.smtp import RecordingHandler
from worker.producer import CeleryJobQueue

JOB = Job("job1", "share", "bob@example.org", "a-story")


class FlakyLedger(DeliveryLedger):
    """The real ledger, whose database is away for the first `outage` marks."""

    def __init__(self, sessions: SessionFactory, outage: int) -> None:
        super().__init__(sessions)
        self.outage = outage
        self.marks = 0

    def mark(self, job_id: str, status: JobStatus, reply: str) -> None:
        self.marks += 1
        if self.marks <= self.outage:
            raise ServiceUnavailable("database unavailable: connection refused")
        super().mark(job_id, status, reply)


def envelope() -> Envelope:
    return Envelope(b"Subject: hi\r\n\r\nHi\r\n", "news@today.az", JOB.recipient)


def deliverer(ledger: DeliveryLedger, backend: MemoryBackend, *, lease: float,
              settle: float) -> Deliverer:
    return Deliverer(ledger=ledger, backend=backend, retry=RetryPolicy(1, 4, 3600),
                     lease_seconds=lease, settle_seconds=settle)


def test_an_answer_waits_for_the_database_instead_of_being_sent_twice(
        sessions: SessionFactory) -> None:
    ledger = FlakyLedger(sessions, outage=3)
    ledger.create(JOB.id, kind=JOB.kind, recipient=JOB.recipient, reference=JOB.reference)
    backend = MemoryBackend()
    outcome = deliverer(ledger, backend, lease=5, settle=5).deliver(JOB, 1, envelope)
    assert outcome.action == "sent"
    assert len(backend.outbox) == 1
    record = ledger.get(JOB.id)
    assert record is not None and record.status is JobStatus.SENT and ledger.marks == 4


def test_a_database_away_past_the_lease_and_grace_is_reported(
        sessions: SessionFactory) -> None:
    ledger = FlakyLedger(sessions, outage=1000)
    ledger.create(JOB.id, kind=JOB.kind, recipient=JOB.recipient, reference=JOB.reference)
    with pytest.raises(ServiceUnavailable):
        deliverer(ledger, MemoryBackend(), lease=1, settle=0.5).deliver(JOB, 1, envelope)
    record = ledger.get(JOB.id)
    # Still the worker's, leased: the task is retried and, once the lease is out, the
    # message is sent again. A duplicate rather than a loss.
    assert record is not None and record.status is JobStatus.SENDING


def smtp_deliverer(ledger: DeliveryLedger, port: int,
                   suppressions: SuppressionStore) -> Deliverer:
    return Deliverer(ledger=ledger, backend=SmtpBackend(SmtpConfig("127.0.0.1", port, timeout=5)),
                     retry=RetryPolicy(1, 4, 3600), lease_seconds=30, suppressions=suppressions)


@pytest.mark.parametrize("refusal", ["554 5.7.1 <bob@example.org>: Relay access denied",
                                     "530 5.7.0 Authentication required"])
def test_a_share_the_relay_refuses_for_its_configuration_waits_and_blames_nobody(
        sessions: SessionFactory, smtp: RecordingHandler, smtp_port: int,
        refusal: str) -> None:
    ledger, suppressions = DeliveryLedger(sessions), SuppressionStore(sessions)
    ledger.create(JOB.id, kind=JOB.kind, recipient=JOB.recipient, reference=JOB.reference)
    smtp.refuse_rcpt[JOB.recipient] = refusal
    sender = smtp_deliverer(ledger, smtp_port, suppressions)
    outcome = sender.deliver(JOB, 1, lambda: make_envelope(JOB.recipient))
    sender.backend.close()
    assert outcome.action == "retry" and outcome.delay > 0
    record = ledger.get(JOB.id)
    assert record is not None and record.status is JobStatus.DEFERRED
    assert suppressions.suppressed([JOB.recipient]) == set()


def test_a_confirmation_carries_its_recipient_and_a_bounce_lists_that_address(
        make_settings: Callable[..., Settings], smtp: RecordingHandler,
        smtp_port: int) -> None:
    """The job of a sign-up e-mail names the address: suppression is checked against it
    and a hard bounce lists it (never an empty address)."""
    settings = make_settings()
    stores = services.stores(settings, seed=False)
    queue = CeleryJobQueue(settings)
    submit_signup({"email": "leyla@example.org", "name": "Leyla"}, catalog=make_catalog(settings),
                  default=default_preferences(settings), store=stores.subscribers,
                  ledger=stores.ledger, queue=queue, resend_after=timedelta(0))
    queue.close()
    with stores.sessions.begin() as session:
        [row] = session.scalars(select(DeliveryRow).where(DeliveryRow.kind == "confirm"))
        payload = json.loads(row.payload or "{}")
    assert row.recipient == payload["recipient"] == "leyla@example.org"
    smtp.refuse_rcpt["leyla@example.org"] = "550 5.1.1 <leyla@example.org>: User unknown"
    mail = ConfirmMail(store=stores.subscribers, tokens=make_tokens(settings),
                       mail=make_template_mail(settings), catalog=make_catalog(settings),
                       public_url=settings.public_url, site_name=settings.site_name,
                       from_email=settings.from_email, domain=settings.site_domain,
                       confirm_hours=48)
    sender = smtp_deliverer(stores.ledger, smtp_port, stores.suppressions)
    assert mail.deliver(sender, payload, 1).action == "failed"
    assert [s.email for s in stores.suppressions.list()] == ["leyla@example.org"]
    # A job queued by an older version, without the recipient, finds it by subscriber.
    legacy = {k: v for k, v in payload.items() if k != "recipient"}
    stores.ledger.mark(payload["job_id"], JobStatus.QUEUED, "")
    assert mail.deliver(sender, legacy, 2).action == "suppressed"
    sender.backend.close()
    stores.close()


def test_a_share_to_an_address_that_refused_shares_is_recorded_never_sent(
        sessions: SessionFactory, smtp: RecordingHandler, smtp_port: int) -> None:
    ledger, suppressions = DeliveryLedger(sessions), SuppressionStore(sessions)
    suppressions.refuse_shares("BOB@example.org")
    ledger.create(JOB.id, kind=JOB.kind, recipient=JOB.recipient, reference=JOB.reference)
    sender = smtp_deliverer(ledger, smtp_port, suppressions)
    outcome = sender.deliver(JOB, 1, lambda: make_envelope(JOB.recipient))
    sender.backend.close()
    assert (outcome.action, outcome.reply) == ("suppressed", REFUSED_REPLY)
    record = ledger.get(JOB.id)
    assert record is not None and record.status is JobStatus.SUPPRESSED
    assert smtp.received == [], "nothing reached the relay"
    assert suppressions.why_not_send("bob@example.org", "digest") is None, \
        "the owner's own digest is not refused"
    assert suppressions.why_not_send("bob@example.org", "confirm") is None
    suppressions.allow_shares("bob@example.org")
    assert suppressions.why_not_send("bob@example.org", "share") is None
