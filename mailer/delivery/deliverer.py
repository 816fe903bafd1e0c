"""Delivering one transactional message: claim it in the ledger, check the suppression
list, build it, send it, record the outcome (`OutcomeWriter`, as every kind of mail
does), and say whether and when to try again.

Shares and confirmation e-mails both go through `Deliverer.deliver`; what differs is
only how the envelope is built.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from mailer.delivery.attempts import log_attempt
from mailer.delivery.ledger import NOT_QUEUED, Claim, DeliveryLedger, JobStatus
from mailer.delivery.outcomes import Dispatch, LedgerRecord, OutcomeWriter
from mailer.delivery.recorder import MetricsRecorder
from mailer.delivery.retry import RetryPolicy
from mailer.delivery.suppression import SuppressionStore
from mailer.delivery.verdict import Verdict
from mailer.errors import NotFound, NothingToSend, ServiceUnavailable
from mailer.queue import SHARE_QUEUE, JobQueue
from mailer.sending.backends.base import EmailBackend
from mailer.sending.message import Envelope


@dataclass(frozen=True)
class Outcome:
    action: Literal["sent", "skipped", "retry", "failed", "suppressed"]
    reply: str = ""
    delay: float = 0.0


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


def hand_many_to_broker(jobs: Sequence[tuple[str, str, dict[str, Any]]], *,
                        ledger: DeliveryLedger, queue: JobQueue
                        ) -> list[ServiceUnavailable | None]:
    """`hand_to_broker` for several (job id, task, payload) at once, in one round trip
    where the broker allows: for each, None once the broker has it, or why not (its
    row then says so, unless the database is away too)."""
    refused = queue.enqueue_many([(task, payload) for _, task, payload in jobs],
                                 queue=SHARE_QUEUE)
    for (job_id, _, _), error in zip(jobs, refused, strict=True):
        if error is not None:
            with contextlib.suppress(ServiceUnavailable):
                ledger.mark(job_id, JobStatus.FAILED, NOT_QUEUED)
    return refused


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
        is gone: recorded as failed) or NothingToSend (no one to send to, by design:
        recorded as skipped). Raises ServiceUnavailable when the database is away; the
        caller should try the whole task again later."""
        claim, wait, retries_since = self.ledger.claim(
            job.id, self.lease_seconds, kind=job.kind, recipient=job.recipient,
            reference=job.reference)
        if claim is Claim.DONE:
            return Outcome("skipped", "already delivered or failed")
        if claim is Claim.BUSY:
            return Outcome("retry", "another worker is sending it", delay=wait + 1)
        try:
            return self._send_claimed(job, attempt, retries_since, build,
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

    def _settle_all(self, records: Sequence[LedgerRecord], give_up_at: float) -> None:
        for job_id, status, reply in records:
            self._settle(job_id, status, reply, give_up_at)

    def _send_claimed(self, job: Job, attempt: int, retries_since: datetime | None,
                      build: Callable[[], Envelope], give_up_at: float) -> Outcome:
        why = self.suppressions.why_not_send(job.recipient, job.kind) \
            if self.suppressions is not None and job.recipient else None
        if why:
            log_attempt(message_id=job.id, kind=job.kind, recipient=job.recipient,
                        outcome="suppressed", smtp_code=None, smtp_seconds=None,
                        queued_at=retries_since, metrics=self.metrics)
            self.ledger.mark(job.id, JobStatus.SUPPRESSED, why)
            return Outcome("suppressed", why)
        try:
            building = time.perf_counter()
            envelope = build()
            if self.metrics is not None:
                self.metrics.observe("render_seconds", time.perf_counter() - building)
        except NothingToSend as exc:
            self.ledger.mark(job.id, JobStatus.SKIPPED, str(exc))
            return Outcome("skipped", str(exc))
        except NotFound as exc:
            self.ledger.mark(job.id, JobStatus.FAILED, str(exc))
            return Outcome("failed", str(exc))
        started = time.perf_counter()
        result = self.backend.send_messages([envelope])[0]
        smtp_seconds = time.perf_counter() - started
        # The relay has answered: the answer must reach the ledger, or the message
        # goes out again once the lease runs out.
        outcomes = OutcomeWriter(
            record=lambda records: self._settle_all(records, give_up_at),
            suppressions=self.suppressions, metrics=self.metrics, retry=self.retry)
        message = Dispatch(job.id, job.kind, envelope.recipient, retries_since, attempt)
        judged = outcomes.take(message, result, smtp_seconds)
        outcomes.finish()
        return _task_outcome(judged)


def _task_outcome(judged: Verdict) -> Outcome:
    """What the task does next: a retry waits what the verdict says (the backoff, or a
    send slot's wait)."""
    if judged.status is JobStatus.SENT:
        return Outcome("sent", judged.reply)
    if judged.retry:
        return Outcome("retry", judged.reply, delay=judged.wait)
    return Outcome("failed", judged.reply)
