"""The one place a send result becomes its after-effects, for every kind of mail
(shares, confirmations, digests, and whatever is sent next): its verdict, the attempt
log and metrics, the ledger record, and the suppression of a hard bounce.

What differs between kinds is handed in, not written again: how records reach the
ledger (a transactional message waits out a database that is away; a digest batch
commits every few replies), and the retry horizon of transactional mail.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from mailer.delivery.attempts import AttemptLog, reply_code
from mailer.delivery.ledger import JobStatus
from mailer.delivery.recorder import MetricsRecorder
from mailer.delivery.retry import RetryPolicy
from mailer.delivery.suppression import SuppressionStore
from mailer.delivery.verdict import Verdict, verdict
from mailer.sending.backends.base import SendResult

LedgerRecord = tuple[str, JobStatus, str]
RecordOutcomes = Callable[[Sequence[LedgerRecord]], None]


@dataclass(frozen=True)
class Dispatch:
    """The message a send result is about. `queued_at`: when it was queued (or resent),
    where the attempt log's queue time and the retry horizon start. `attempts`: sends
    tried so far, this one included."""

    message_id: str
    kind: str
    recipient: str
    queued_at: datetime | None
    attempts: int


class OutcomeWriter:
    """Handed each send result as it arrives; writes the ledger records every
    `record_every` results (with the attempt log's lines gathered meanwhile), and the
    metrics and the hard bounces at `finish`: per batch, what is per batch. `record`
    writes records to the ledger; it raises ServiceUnavailable when the database is
    away, and whatever it has not written then is the caller's to account for.
    `retry`: the horizon past which a deferral fails; None where something else ends
    the retries (a digest's delivery window)."""

    def __init__(self, *, record: RecordOutcomes, suppressions: SuppressionStore | None,
                 metrics: MetricsRecorder | None, retry: RetryPolicy | None = None,
                 record_every: int = 1) -> None:
        self._record = record
        self._suppressions = suppressions
        self._metrics = metrics
        self._retry = retry
        self._record_every = record_every
        self._unrecorded: list[LedgerRecord] = []
        self._attempts = AttemptLog(metrics)
        self._bounced: list[tuple[str, str]] = []

    def take(self, message: Dispatch, result: SendResult, smtp_seconds: float) -> Verdict:
        """Log and count the result, queue its record (writing the records once
        `record_every` are waiting) and its bounce; returns what it means."""
        judged = verdict(result.error, result.reply)
        if self._retry is not None:
            judged = self._retry.schedule(judged, message.attempts, message.queued_at)
        self._attempts.add(message_id=message.message_id, kind=message.kind,
                           recipient=message.recipient, outcome=judged.outcome,
                           smtp_code=reply_code(result), smtp_seconds=smtp_seconds,
                           queued_at=message.queued_at)
        # A message that never went out (no send slot) is put back `queued`: not an
        # attempt, not a deferral.
        self._unrecorded.append((message.message_id, judged.status, judged.reply))
        if judged.suppress:
            self._bounced.append((message.recipient, judged.reply))
        if len(self._unrecorded) >= self._record_every:
            self._write_records()
        return judged

    def finish(self) -> None:
        """Write the records still waiting, then list the hard bounces: an address is
        suppressed only once its message's failure is in the ledger."""
        self._write_records()
        if self._metrics is not None:
            self._metrics.flush()
        if self._suppressions is not None and self._bounced:
            self._suppressions.add_many(self._bounced, "smtp")
        self._bounced = []

    def _write_records(self) -> None:
        self._attempts.flush()  # what the relay said stands, whatever the ledger does
        if self._unrecorded:
            self._record(self._unrecorded)
            self._unrecorded = []
