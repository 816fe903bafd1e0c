"""What the ledger records for one send result: the error `sending.replies.classify`
gave (or none) as a ledger status, whether to retry, whether it went out, whether
to suppress the address, and the relay's fault. Shares, confirmations and digests all
record through this."""

from __future__ import annotations

from dataclasses import dataclass

from mailer.delivery.ledger import JobStatus
from mailer.errors import (
    DeliveryError,
    NotAttempted,
    PermanentDeliveryError,
    RelayRefused,
    RelayUnavailable,
    TransientDeliveryError,
)


@dataclass(frozen=True)
class Verdict:
    """What one send result means. `went_out`: the message reached the relay, so the
    send counts towards its retries (one held back for lack of a send slot does not).
    `relay_fault`: the relay refused us for its configuration, why (empty otherwise).
    `wait`: seconds until it may be tried again: a send slot's wait, or the backoff
    that `RetryPolicy.schedule` gives a deferral."""

    status: JobStatus
    reply: str
    retry: bool = False
    went_out: bool = True
    suppress: bool = False
    relay_fault: str = ""
    wait: float = 0.0

    @property
    def outcome(self) -> str:
        """The attempt log's and the metrics' word for it."""
        if self.status is JobStatus.SENT:
            return "sent"
        if not self.went_out:
            return "throttled"
        return "deferred" if self.retry else "failed"


def verdict(error: DeliveryError | None, reply: str = "") -> Verdict:
    if error is None:
        return Verdict(JobStatus.SENT, reply)
    text = str(error)
    if isinstance(error, NotAttempted):
        return Verdict(JobStatus.QUEUED, text, retry=True, went_out=False,
                       wait=error.retry_after)
    if isinstance(error, RelayRefused):
        return Verdict(JobStatus.DEFERRED, text, retry=True, relay_fault=text)
    if isinstance(error, RelayUnavailable | TransientDeliveryError):
        return Verdict(JobStatus.DEFERRED, text, retry=True)
    suppress = isinstance(error, PermanentDeliveryError) and error.hard_bounce
    return Verdict(JobStatus.FAILED, text, suppress=suppress)


def gave_up(found: Verdict, attempts: int) -> Verdict:
    """A deferral past the message's retry horizon: failed, still blaming nobody."""
    return Verdict(JobStatus.FAILED, f"gave up after {attempts} attempts: {found.reply}",
                   relay_fault=found.relay_fault)
