"""Sending one batch of planned digests over one SMTP session: claim the rows, skip
whom the list no longer wants, send at the shared rate, record each reply as it
arrives, and pause the run if its mail starts bouncing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email.utils import format_datetime

from mailer.delivery.attempts import Stopwatch, log_attempt, reply_code
from mailer.delivery.deliverer import RetryPolicy
from mailer.delivery.ledger import DeliveryLedger, JobStatus, Kind
from mailer.delivery.recorder import MetricsRecorder
from mailer.delivery.retry import backoff_delay
from mailer.delivery.suppression import SUPPRESSED_REPLY, SuppressionStore
from mailer.delivery.verdict import verdict
from mailer.digest.compose import DigestMail, EncodedTemplate
from mailer.digest.plan import ArticleDays, Variant
from mailer.digest.runs import DigestRuns, FailureWindow, RunStatus
from mailer.sending.backends.base import EmailBackend, SendResult
from mailer.sending.message import Envelope
from mailer.subscriptions.model import SubscriberStatus
from mailer.subscriptions.store import SubscriberStore


@dataclass(frozen=True)
class BatchOutcome:
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    deferred: list[str] = field(default_factory=list)
    retry_in: float = 0.0
    throttled: list[str] = field(default_factory=list)  # not sent yet: no send slot
    throttle_wait: float = 0.0
    halted: str = ""  # the run is paused or cancelled: why nothing (more) was sent


@dataclass
class _Tally:
    sent: int = 0
    failed: int = 0
    deferred: list[str] = field(default_factory=list)
    throttled: list[str] = field(default_factory=list)
    throttle_wait: float = 0.0
    worst_attempt: int = 0
    bounced: list[tuple[str, str]] = field(default_factory=list)
    relay_fault: str = ""


class DigestSender:
    def __init__(self, *, ledger: DeliveryLedger, subscribers: SubscriberStore,
                 days: ArticleDays, mail: DigestMail, backend: EmailBackend,
                 retry: RetryPolicy, lease_seconds: float, record_every: int = 20,
                 suppressions: SuppressionStore | None = None, runs: DigestRuns | None = None,
                 failures: FailureWindow | None = None,
                 metrics: MetricsRecorder | None = None) -> None:
        """`record_every`: SMTP replies per ledger commit, the most a worker killed
        mid-batch can leave sent but unrecorded (and so send twice). 1 makes that one
        message; on SQLite with four workers it costs about a fifth of the throughput."""
        self.record_every = record_every
        self.ledger = ledger
        self.subscribers = subscribers
        self.days = days
        self.mail = mail
        self.backend = backend
        self.retry = retry
        self.lease_seconds = lease_seconds
        self.suppressions = suppressions
        self.runs = runs
        self.failures = failures
        self.metrics = metrics

    def send_batch(self, ids: Sequence[str], run_id: str | None = None) -> BatchOutcome:
        """A digest is retried until its window closes (then `claim_many` records it
        expired): the window is a digest's retry horizon."""
        if run_id and self.runs is not None:
            status = self.runs.status(run_id)
            if status in (RunStatus.PAUSED, RunStatus.CANCELLED):
                # The rows stay as they are: `resume` queues them again.
                return BatchOutcome(halted=f"run {run_id} is {status.value}")
        self.days.forget()  # articles may have been corrected since the last batch
        claimed = self.ledger.claim_many(ids, self.lease_seconds)
        people = self.subscribers.get_many(c.subscriber_id for c in claimed)
        listed = self.suppressions.suppressed(p.email for p in people.values()) \
            if self.suppressions is not None else set()
        date_header = format_datetime(datetime.now(UTC)).encode()
        skipped: list[tuple[str, JobStatus, str]] = []
        work: list[tuple[str, int, Envelope]] = []
        queued = {row.id: row.created_at for row in claimed}
        templates: dict[Variant, EncodedTemplate | None] = {}
        for row in claimed:
            person = people.get(row.subscriber_id)
            if person is None or person.status is not SubscriberStatus.ACTIVE:
                skipped.append((row.id, JobStatus.SKIPPED, "not sent: unsubscribed since"))
                continue
            if person.email.lower() in listed:
                skipped.append((row.id, JobStatus.SUPPRESSED, SUPPRESSED_REPLY))
                continue
            prefs = person.preferences
            variant = Variant(date.fromisoformat(row.reference), prefs.timezone, prefs.sections)
            if variant not in templates:
                articles = self.days.for_variant(variant)
                templates[variant] = self.mail.template(variant, articles) if articles else None
            template = templates[variant]
            if template is None:
                skipped.append((row.id, JobStatus.SKIPPED, "not sent: no articles any more"))
                continue
            work.append((row.id, row.attempts, self.mail.envelope(template, person, date_header)))
        self.ledger.record(skipped)
        tally = self._send(work, queued)
        if self.suppressions is not None and tally.bounced:
            self.suppressions.add_many(tally.bounced, "smtp")
        halted = ""
        if run_id and self.runs is not None and tally.relay_fault:
            # Every later batch would be refused the same way: stop until an operator
            # has fixed the relay's settings and resumes the run.
            reason = f"the relay refused us: {tally.relay_fault}"[:300]
            if self.runs.pause(run_id, reason):
                halted = reason
        elif run_id and self.failures is not None and self.runs is not None:
            ratio = self.failures.add(run_id, tally.sent, tally.failed)
            if ratio and self.runs.pause(run_id, ratio):
                halted = ratio
        delay = backoff_delay(tally.worst_attempt, base=self.retry.base_seconds,
                              cap=self.retry.max_seconds) if tally.deferred else 0.0
        return BatchOutcome(tally.sent, tally.failed, len(skipped), tally.deferred, delay,
                            tally.throttled, tally.throttle_wait, halted)

    def _send(self, work: list[tuple[str, int, Envelope]],
              queued: dict[str, datetime | None]) -> _Tally:
        tally = _Tally()
        unrecorded: list[tuple[str, JobStatus, str]] = []
        watch = Stopwatch()

        def record(index: int, result: SendResult) -> None:
            row_id, attempts, envelope = work[index]
            found = verdict(result.error, result.reply)
            log_attempt(message_id=row_id, kind=Kind.DIGEST, recipient=envelope.recipient,
                        outcome=found.outcome, smtp_code=reply_code(result),
                        smtp_seconds=watch.lap(), queued_at=queued.get(row_id),
                        metrics=self.metrics)
            unrecorded.append((row_id, found.status, found.reply))
            if found.status is JobStatus.SENT:
                tally.sent += 1
            elif not found.attempt:
                tally.throttled.append(row_id)
                tally.throttle_wait = max(tally.throttle_wait, found.wait)
            elif found.retry:
                tally.deferred.append(row_id)
                tally.worst_attempt = max(tally.worst_attempt, attempts)
            else:
                tally.failed += 1
            if found.suppress:
                tally.bounced.append((envelope.recipient, found.reply))
            if found.relay_fault and not tally.relay_fault:
                tally.relay_fault = found.relay_fault
            if len(unrecorded) >= self.record_every:
                self.ledger.record_now(unrecorded)
                unrecorded.clear()
                if self.metrics is not None:
                    self.metrics.flush()

        self.backend.send_messages([envelope for _, _, envelope in work], on_result=record)
        self.ledger.record_now(unrecorded)
        if self.metrics is not None:
            self.metrics.flush()
        return tally
