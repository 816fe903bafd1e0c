"""The `feedback` table's one owner: every returned message, per recipient, with what
the feedback policy did about it. It answers the policy's one question (how many soft
bounces in a row has this address had) and the operator's (rates and refusals)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import cast
from uuid import uuid4

from sqlalchemy import Table, bindparam, func, insert, select
from sqlalchemy.orm import Session

from mailer.db import SessionFactory, together, transaction
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
    source: str = ""  # the returned message's digest (mailer.inbound.intake)


@dataclass(frozen=True)
class FeedbackCount:
    kind: str  # of the message it was about; "" when it named none of ours
    type: str
    action: str
    count: int


@dataclass(frozen=True)
class RunReturns:
    """A digest run's messages that came back as hard bounces and as complaints."""

    hard_bounces: int = 0
    complaints: int = 0


@dataclass(frozen=True)
class DomainCounts:
    top: tuple[tuple[str, int], ...]  # (domain, count), commonest first
    other: int  # all the domains below the top ones


class FeedbackStore:
    """Statements built once: a bounce storm runs them thousands of times a second, and
    the ORM's per-call building cost more than the database did."""

    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions
        table = FeedbackRow.__table__
        self._insert = insert(cast(Table, table))
        self._seen = select(table.c.id).where(table.c.source == bindparam("source")).limit(1)
        c = table.c
        self._soft_bounces = (
            select(c.received_at, c.message_id)
            .where(c.address == bindparam("address"), c.type == "bounce", c.hard.is_(False),
                   c.action.in_(("counted", "unreachable")),  # not refusals blaming us
                   c.token.in_(("ours", "attested")), c.received_at >= bindparam("since")))
        deliveries = cast(Table, DeliveryRow.__table__).c
        self._last_delivery = (
            select(func.max(deliveries.created_at))
            .where(deliveries.recipient == bindparam("recipient"), deliveries.status == "sent",
                   deliveries.id.not_in(bindparam("bounced", expanding=True))))

    def record(self, events: Sequence[FeedbackEvent], at: datetime | None = None) -> None:
        if not events:
            return
        now = at or utcnow()
        with transaction(self._sessions) as session:
            session.connection().execute(self._insert, [{
                "id": uuid4().hex, "received_at": now, "type": e.type,
                "address": e.address.lower(), "domain": e.address.rpartition("@")[2].lower(),
                "status": e.status[:16], "hard": e.hard, "diagnostic": e.diagnostic[:500],
                "token": e.token, "message_id": e.message_id, "kind": e.kind,
                "run_id": e.run_id, "action": e.action, "kept_as": e.kept_as[:80],
                "source": e.source} for e in events])

    def together(self) -> AbstractContextManager[Session]:
        """One transaction for what the intake writes about one message, in this table
        and the other stores on the same database (mailer.db.together)."""
        return together(self._sessions)

    def seen(self, source: str) -> bool:
        """Whether a returned message was taken before (a poll that re-reads after a
        crash, a sender that retries after our 451)."""
        with transaction(self._sessions) as session:
            return session.connection().execute(
                self._seen, {"source": source}).first() is not None

    def soft_streak(self, recipient: str, since: datetime, bouncing: str) -> int:
        """Soft bounces for the address (as the ledger writes it) since `since` and
        since its last delivery: a message that went out after them and has not bounced
        resets the count. `bouncing`: the message whose bounce is being read, no
        delivery. Asked when a bounce comes, so sending pays nothing for it."""
        with transaction(self._sessions) as session:
            connection = session.connection()
            bounces = list(connection.execute(
                self._soft_bounces, {"address": recipient.lower(), "since": since}))
            bounced_ids = [m for _, m in bounces if m] + [bouncing]
            delivered = connection.execute(
                self._last_delivery, {"recipient": recipient, "bounced": bounced_ids}).scalar()
        if delivered is None:
            return len(bounces)
        return sum(1 for received, _ in bounces if received > delivered)

    def counts(self, since: datetime | None = None) -> list[FeedbackCount]:
        """Rows by the kind of the message they were about ("" when none of ours), type
        and action; since `since`, or since the table began. The table is only ever
        added to, so the latter only grows: /metrics exports it as a counter."""
        query = select(FeedbackRow.kind, FeedbackRow.type, FeedbackRow.action, func.count())
        if since is not None:
            query = query.where(FeedbackRow.received_at >= since)
        with transaction(self._sessions) as session:
            rows = session.execute(query.group_by(FeedbackRow.kind, FeedbackRow.type,
                                                  FeedbackRow.action)).all()
        return [FeedbackCount(kind, type_, action, int(n)) for kind, type_, action, n in rows]

    def untrusted(self, since: datetime) -> dict[str, int]:
        """Returned mail that acted on no one, by why: its token was missing, forged,
        stale, or named a message we have no record of."""
        with transaction(self._sessions) as session:
            rows = session.execute(
                select(FeedbackRow.token, func.count())
                .where(FeedbackRow.received_at >= since, FeedbackRow.action == "untrusted")
                .group_by(FeedbackRow.token)).all()
        return {token: int(n) for token, n in rows}

    def run_returns(self, run_ids: Collection[str], since: datetime | None = None
                    ) -> dict[str, RunReturns]:
        """Each run's messages that came back as hard bounces and as complaints (each
        message once, however many reports named it; received since `since`, when
        given); every run asked for is present."""
        found = {run_id: RunReturns() for run_id in run_ids}
        if not found:
            return found
        query = select(FeedbackRow.run_id, FeedbackRow.action,
                       func.count(FeedbackRow.message_id.distinct())) \
            .where(FeedbackRow.run_id.in_(list(found)),
                   FeedbackRow.action.in_(("suppressed", "complained")))
        if since is not None:
            query = query.where(FeedbackRow.received_at >= since)
        with transaction(self._sessions) as session:
            rows = session.execute(query.group_by(FeedbackRow.run_id, FeedbackRow.action)).all()
        for run_id, action, n in rows:
            was = found[str(run_id)]
            found[str(run_id)] = RunReturns(int(n), was.complaints) if action == "suppressed" \
                else RunReturns(was.hard_bounces, int(n))
        return found

    def domain_refusals(self, since: datetime, limit: int = 10) -> DomainCounts:
        """Refusals that blame our server, content or reputation since `since`, by
        recipient domain: the `limit` commonest, and how many came from all others."""
        count = func.count().label("n")
        with transaction(self._sessions) as session:
            rows = session.execute(
                select(FeedbackRow.domain, count)
                .where(FeedbackRow.received_at >= since, FeedbackRow.action == "blames-us")
                .group_by(FeedbackRow.domain).order_by(count.desc(), FeedbackRow.domain)).all()
        ranked = [(domain or "(none)", int(n)) for domain, n in rows]
        return DomainCounts(tuple(ranked[:limit]), sum(n for _, n in ranked[limit:]))
