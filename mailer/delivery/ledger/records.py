"""What the delivery ledger holds and hands out: the kinds and states of a message, and
the records the ledger returns (mailer/delivery/ledger/ owns the `deliveries` table)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from mailer.models import DeliveryRow
from mailer.validation import mask_address


class Kind(StrEnum):
    """What a row of `deliveries` is."""

    SHARE = "share"
    CONFIRM = "confirm"
    DIGEST = "digest"
    ALERT = "alert"  # breaking news: planned and sent as digests are, one story
    MANAGE = "manage"  # a link to the preferences page, asked for on the site
    WELCOME = "welcome"  # after a sign-up is confirmed


class JobStatus(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    DEFERRED = "deferred"
    SENT = "sent"
    FAILED = "failed"
    EXPIRED = "expired"  # a digest that could not go out in its window: never sent late
    SKIPPED = "skipped"  # a digest whose subscriber left between planning and sending,
    # a welcome to one who left since, a manage link for an address with no subscription
    SUPPRESSED = "suppressed"  # not sent: the address is on the suppression list
    CANCELLED = "cancelled"  # not sent: its digest run was cancelled
    BOUNCED = "bounced"  # sent, then a hard bounce came back for it (mailer.inbound)


FINAL = {JobStatus.SENT, JobStatus.FAILED, JobStatus.EXPIRED, JobStatus.SKIPPED,
         JobStatus.SUPPRESSED, JobStatus.CANCELLED, JobStatus.BOUNCED}
# A share the broker refused: the client got a 503, so resending it would send what
# its sender was told had not been accepted.
NOT_QUEUED = "not queued: the broker did not take the job"


class Claim(StrEnum):
    CLAIMED = "claimed"  # go ahead and send
    DONE = "done"  # already sent or failed: do nothing
    BUSY = "busy"  # another worker holds the lease: look again later


@dataclass(frozen=True)
class JobRecord:
    id: str
    kind: str
    status: JobStatus
    recipient: str
    reference: str
    attempts: int
    last_reply: str
    created_at: datetime
    updated_at: datetime
    run_id: str | None = None

    def public(self, *, operator: bool = False) -> dict[str, object]:
        """What the HTTP API may show anyone holding the job id: the address masked, and
        a message to an address that refused shared articles, was suppressed or bounced
        later shown as `sent`, so a sender never learns the friend refused or the
        address is dead. `operator`: the truth and the whole address (the CLI)."""
        hidden = not operator and self.status in (JobStatus.SUPPRESSED, JobStatus.BOUNCED)
        return {
            "job_id": self.id, "kind": self.kind,
            "status": JobStatus.SENT.value if hidden else self.status.value,
            "recipient": self.recipient if operator else mask_address(self.recipient),
            "reference": self.reference, "attempts": max(self.attempts, 1) if hidden
            else self.attempts, "last_reply": "" if hidden else self.last_reply,
            "created_at": self.created_at.isoformat(), "updated_at": self.updated_at.isoformat(),
        }


@dataclass(frozen=True)
class Claimed:
    id: str
    subscriber_id: str
    reference: str
    attempts: int
    created_at: datetime | None = None
    kind: str = "digest"  # or "alert": its reference is then the story's id


def finished(counts: dict[JobStatus, int]) -> int:
    """How many of these messages are final: nothing more will happen to them."""
    return sum(n for status, n in counts.items() if status in FINAL)


def summarise(counts: dict[JobStatus, int]) -> str:
    return ", ".join(f"{n} {status.value}" for status, n in sorted(counts.items()))


def _record(row: DeliveryRow) -> JobRecord:
    return JobRecord(id=row.id, kind=row.kind, status=JobStatus(row.status),
                     recipient=row.recipient, reference=row.reference, attempts=row.attempts,
                     last_reply=row.last_reply, created_at=row.created_at,
                     updated_at=row.updated_at, run_id=row.run_id)


@dataclass(frozen=True)
class Resent:
    id: str
    kind: str
    payload: dict[str, Any] | None
    run_id: str | None
