"""Delivering one transactional message: claim it in the ledger, build it, send it,
record the outcome, and say whether and when to try again.

Shares and confirmation e-mails both go through `Deliverer.deliver`; what differs is
only how the envelope is built.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from mailer.errors import NotFound, ServiceUnavailable, TransientDeliveryError
from mailer.ledger import Claim, DeliveryLedger, JobStatus
from mailer.message import Envelope
from mailer.queue import SHARE_QUEUE, JobQueue
from mailer.retry import backoff_delay
from mailer.transport import EmailBackend


@dataclass(frozen=True)
class Outcome:
    action: Literal["sent", "skipped", "retry", "failed"]
    reply: str = ""
    delay: float = 0.0


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int
    base_seconds: float
    max_seconds: float


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
    ledger.create(job.id, kind=job.kind, recipient=job.recipient, reference=job.reference)
    try:
        queue.enqueue(task, payload, queue=SHARE_QUEUE)
    except ServiceUnavailable:
        ledger.mark(job.id, JobStatus.FAILED, "not queued: the broker did not take the job")
        raise


class Deliverer:
    def __init__(self, *, ledger: DeliveryLedger, backend: EmailBackend, retry: RetryPolicy,
                 lease_seconds: float) -> None:
        self.ledger = ledger
        self.backend = backend
        self.retry = retry
        self.lease_seconds = lease_seconds

    def deliver(self, job: Job, attempt: int, build: Callable[[], Envelope]) -> Outcome:
        """`attempt` counts from 1. `build` may raise NotFound (the article or subscriber
        is gone: recorded as failed). Raises ServiceUnavailable when the database is
        away; the caller should try the whole task again later."""
        claim, wait = self.ledger.claim(job.id, self.lease_seconds, kind=job.kind,
                                        recipient=job.recipient, reference=job.reference)
        if claim is Claim.DONE:
            return Outcome("skipped", "already delivered or failed")
        if claim is Claim.BUSY:
            return Outcome("retry", "another worker is sending it", delay=wait + 1)
        try:
            return self._send(job, attempt, build)
        except ServiceUnavailable:
            raise
        except Exception as exc:
            # A bug must not leave the message looking in flight for ever: record it,
            # then let the worker log the traceback.
            self.ledger.mark(job.id, JobStatus.FAILED, f"internal error: {type(exc).__name__}")
            raise

    def _send(self, job: Job, attempt: int, build: Callable[[], Envelope]) -> Outcome:
        try:
            envelope = build()
        except NotFound as exc:
            self.ledger.mark(job.id, JobStatus.FAILED, str(exc))
            return Outcome("failed", str(exc))
        result = self.backend.send_messages([envelope])[0]
        if result.error is None:
            self.ledger.mark(job.id, JobStatus.SENT, result.reply)
            return Outcome("sent", result.reply)
        reply = str(result.error)
        if isinstance(result.error, TransientDeliveryError) and attempt < self.retry.max_attempts:
            self.ledger.mark(job.id, JobStatus.DEFERRED, reply)
            delay = backoff_delay(attempt, base=self.retry.base_seconds,
                                  cap=self.retry.max_seconds)
            return Outcome("retry", reply, delay=delay)
        self.ledger.mark(job.id, JobStatus.FAILED, reply)
        return Outcome("failed", reply)
