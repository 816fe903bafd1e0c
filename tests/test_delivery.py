"""Deliverer: what happens between the relay's answer and the ledger, on a real
database, with the memory backend as the relay."""

from __future__ import annotations

import pytest

from mailer.db import SessionFactory
from mailer.delivery import Deliverer, Job, RetryPolicy
from mailer.errors import ServiceUnavailable
from mailer.ledger import DeliveryLedger, JobStatus
from mailer.message import Envelope
from mailer.transport import MemoryBackend

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
