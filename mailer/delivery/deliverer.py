"""Delivering one transactional message: claim it in the ledger, check the suppression
list, build it, send it, record the outcome, and say whether and when to try again.

Shares and confirmation e-mails both go through `Deliverer.deliver`; what differs is
only how the envelope is built.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from mailer.delivery.attempts import log_attempt, reply_code
from mailer.delivery.ledger import NOT_QUEUED, Claim, DeliveryLedger, JobStatus
from mailer.delivery.recorder import MetricsRecorder
from mailer.delivery.retry import backoff_delay
from mailer.delivery.suppression import SuppressionStore
from mailer.delivery.verdict import gave_up, verdict
from mailer.errors import NotFound, ServiceUnavailable
from mailer.models import utcnow
from mailer.queue import SHARE_QUEUE, JobQueue
from mailer.sending.backends.base import EmailBackend
from mailer.sending.message import Envelope


@dataclass(frozen=True)
class Outcome:
    action: Literal["sent", "skipped", "retry", "failed", "suppressed"]
    reply: str = ""
    delay: float = 0.0


@dataclass(frozen=True)
class RetryPolicy:
    """Deferred messages come back after `backoff_delay`, until `horizon_seconds` after
    they were queued; then they are recorded as failed."""

    base_seconds: float
    max_seconds: float
    horizon_seconds: float

    def next_try(self, attempt: int, since: datetime | None,
                 now: datetime | None = None) -> float | None:
        """Seconds until the next attempt, or None when it would fall past the horizon."""
        delay = backoff_delay(attempt, base=self.base_seconds, cap=self.max_seconds)
        if since is None:
            return delay
        now = now or utcnow()
        if now + timedelta(seconds=delay) > since + timedelta(seconds=self.horizon_seconds):
            return None
        return delay


@dataclass(frozen=True)
class Job:
    """What the ledger needs to know about a message before it is built."""

    id: str
    kind: str
    recipient: str
    reference: str


def queue_delivery(job: Job, *, ledger: DeliveryLedger, queue: JobQueue, task: str,
                   payload: dict[str, Any]) -> None:
    """The producer's half: record the message as queued, then hand it to the broker.
    If the broker does not take it, the row says so and the caller gets
    ServiceUnavailable: an accepted message is never one that silently vanished."""
    ledger.create(job.id, kind=job.kind, recipient=job.recipient, reference=job.reference,
                  payload=payload)
    hand_to_broker(job.id, ledger=ledger, queue=queue, task=task, payload=payload)


def hand_to_broker(job_id: str, *, ledger: DeliveryLedger, queue: JobQueue, task: str,
                   payload: dict[str, Any]) -> None:
    """Queue a message already recorded; if the broker does not take it, the row says
    so (`NOT_QUEUED`) and ServiceUnavailable goes to the caller."""
    try:
        queue.enqueue(task, payload, queue=SHARE_QUEUE)
    except ServiceUnavailable:
        ledger.mark(job_id, JobStatus.FAILED, NOT_QUEUED)
        raise


class Deliverer:
    def __init__(self, *, ledger: DeliveryLedger, backend: EmailBackend, retry: RetryPolicy,
                 lease_seconds: float, suppressions: SuppressionStore | None = None,
                 metrics: MetricsRecorder | None = None, settle_seconds: float = 0.0) -> None:
        """`settle_seconds`: how long past its lease a worker keeps trying to record an
        answer the relay gave while the database was away. Keep it under the sweeper's
        MAILER_REQUEUE_SECONDS: until then nobody else takes the message."""
        self.metrics = metrics
        self.settle_seconds = settle_seconds
        self.ledger = ledger
        self.backend = backend
        self.retry = retry
        self.lease_seconds = lease_seconds
        self.suppressions = suppressions

    def deliver(self, job: Job, attempt: int, build: Callable[[], Envelope]) -> Outcome:
        """`attempt` counts from 1. `build` may raise NotFound (the article or subscriber
        is gone: recorded as failed). Raises ServiceUnavailable when the database is
        away; the caller should try the whole task again later."""
        claim, wait, since = self.ledger.claim(job.id, self.lease_seconds, kind=job.kind,
                                               recipient=job.recipient,
                                               reference=job.reference)
        if claim is Claim.DONE:
            return Outcome("skipped", "already delivered or failed")
        if claim is Claim.BUSY:
            return Outcome("retry", "another worker is sending it", delay=wait + 1)
        try:
            return self._send(job, attempt, since, build,
                              give_up_at=time.monotonic() + self.lease_seconds
                              + self.settle_seconds)
        except ServiceUnavailable:
            raise
        except Exception as exc:
            # A bug must not leave the message looking in flight for ever: record it,
            # then let the worker log the traceback.
            self.ledger.mark(job.id, JobStatus.FAILED, f"internal error: {type(exc).__name__}")
            raise
        finally:
            if self.metrics is not None:
                self.metrics.flush()

    def _settle(self, job_id: str, status: JobStatus, reply: str, give_up_at: float) -> None:
        """Record an outcome, waiting out a database that is away: this worker still
        runs the message's task, and the sweeper leaves it alone until well past its
        lease, so if the database is back in time the message is not sent twice."""
        pause = 0.25
        while True:
            try:
                self.ledger.mark(job_id, status, reply)
                return
            except ServiceUnavailable:
                if time.monotonic() + pause > give_up_at:
                    raise
                time.sleep(pause)
                pause = min(pause * 2, 1.0)

    def _send(self, job: Job, attempt: int, since: datetime | None,
              build: Callable[[], Envelope], give_up_at: float) -> Outcome:
        why = self.suppressions.why_not_send(job.recipient, job.kind) \
            if self.suppressions is not None and job.recipient else None
        if why:
            log_attempt(message_id=job.id, kind=job.kind, recipient=job.recipient,
                        outcome="suppressed", smtp_code=None, smtp_seconds=None,
                        queued_at=since, metrics=self.metrics)
            self.ledger.mark(job.id, JobStatus.SUPPRESSED, why)
            return Outcome("suppressed", why)
        try:
            building = time.perf_counter()
            envelope = build()
            if self.metrics is not None:
                self.metrics.observe("render_seconds", time.perf_counter() - building)
        except NotFound as exc:
            self.ledger.mark(job.id, JobStatus.FAILED, str(exc))
            return Outcome("failed", str(exc))
        started = time.perf_counter()
        result = self.backend.send_messages([envelope])[0]

        # The relay has answered: the answer must reach the ledger, or the message
        # goes out again once the lease runs out.
        def settle(status: JobStatus, reply: str) -> None:
            self._settle(job.id, status, reply, give_up_at)

        smtp_seconds = time.perf_counter() - started
        found = verdict(result.error, result.reply)
        delay = 0.0
        if found.retry and found.attempt:
            next_try = self.retry.next_try(attempt, since)
            if next_try is None:
                found = gave_up(found, attempt)
            else:
                delay = next_try
        log_attempt(message_id=job.id, kind=job.kind, recipient=envelope.recipient,
                    outcome=found.outcome, smtp_code=reply_code(result),
                    smtp_seconds=smtp_seconds, queued_at=since, metrics=self.metrics)
        # A message that never went out (no send slot) is put back `queued`: not an
        # attempt, not a deferral.
        settle(found.status, found.reply)
        if found.suppress and self.suppressions is not None and job.recipient:
            self.suppressions.add(job.recipient, found.reply, "smtp")
        if found.status is JobStatus.SENT:
            return Outcome("sent", found.reply)
        if found.retry:
            return Outcome("retry", found.reply, delay=delay if found.attempt else found.wait)
        return Outcome("failed", found.reply)
