"""The `feedback` table's one owner: every returned message, per recipient, with what
the feedback policy did about it. It answers the policy's one question (how many soft
bounces in a row has this address had) and the operator's (rates and refusals)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import uuid4

from sqlalchemy import func, select

from mailer.db import SessionFactory, transaction
from mailer.models import DeliveryRow, FeedbackRow, utcnow


@dataclass(frozen=True)
class FeedbackEvent:
    type: str
    token: str  # ours, missing, forged, stale, unknown-message
    action: str
    address: str = ""
    status: str = ""
    hard: bool = False
    diagnostic: str = ""
    message_id: str | None = None
    kind: str = ""
    run_id: str | None = None
    kept_as: str = ""


class FeedbackStore:
    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    def record(self, events: Sequence[FeedbackEvent], at: datetime | None = None) -> None:
        now = at or utcnow()
        with transaction(self._sessions) as session:
            session.add_all(FeedbackRow(
                id=uuid4().hex, received_at=now, type=e.type, address=e.address.lower(),
                domain=e.address.rpartition("@")[2].lower(), status=e.status[:16],
                hard=e.hard, diagnostic=e.diagnostic[:500], token=e.token,
                message_id=e.message_id, kind=e.kind, run_id=e.run_id, action=e.action,
                kept_as=e.kept_as[:80]) for e in events)

    def soft_streak(self, recipient: str, since: datetime, bouncing: str) -> int:
        """Soft bounces for the address (as the ledger writes it) since `since` and
        since its last delivery: a message that went out after them and has not bounced
        resets the count. `bouncing`: the message whose bounce is being read, no
        delivery. Asked when a bounce comes, so sending pays nothing for it."""
        key = recipient.lower()
        with transaction(self._sessions) as session:
            bounces = list(session.execute(
                select(FeedbackRow.received_at, FeedbackRow.message_id)
                .where(FeedbackRow.address == key, FeedbackRow.type == "bounce",
                       FeedbackRow.hard.is_(False),
                       FeedbackRow.token.in_(("ours", "attested")),
                       FeedbackRow.received_at >= since)
                .order_by(FeedbackRow.received_at.desc())))
            bounced_ids = [m for _, m in bounces if m] + [bouncing]
            delivered = session.scalar(
                select(func.max(DeliveryRow.created_at))
                .where(DeliveryRow.recipient == recipient,
                       DeliveryRow.status == "sent",
                       DeliveryRow.id.not_in(bounced_ids)))
        if delivered is None:
            return len(bounces)
        return sum(1 for received, _ in bounces if received > delivered)
