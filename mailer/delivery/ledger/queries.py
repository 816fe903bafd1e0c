"""The ledger's reports: counts by state, failures, what a run has left, the replies
relays gave. Read-only; `DeliveryLedger` (store.py) inherits them."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, select

from mailer.db import SessionFactory, transaction
from mailer.delivery.ledger.records import FINAL, JobRecord, JobStatus, _record, finished
from mailer.models import DeliveryRow


@dataclass(frozen=True)
class DeliveryTimes:
    """When a run's messages went out. `planned_at`: its first message was made;
    `first_sent`: the relay took the first; `last_sent` and `waiting`: the last taken,
    and how many are not final yet, of those planned in its first pass (within `pass_`
    of `planned_at`: readers whose quiet hours held them back are planned later, on
    purpose, and would make every alert look late)."""

    planned_at: datetime
    first_sent: datetime | None
    last_sent: datetime | None
    waiting: int


class LedgerQueries:
    _sessions: SessionFactory

    def run_counts(self, run_id: str, since: datetime | None = None) -> dict[JobStatus, int]:
        """How many of a digest run's messages are in each state (that they reached
        since `since`, when given)."""
        if since is None:
            return self._counts(DeliveryRow.run_id == run_id)
        return self._counts(and_(DeliveryRow.run_id == run_id, DeliveryRow.updated_at >= since))

    def delivery_times(self, run_ids: Sequence[str], pass_: timedelta
                       ) -> dict[str, DeliveryTimes]:
        """Each run's DeliveryTimes (runs with no message yet are left out). Through the
        run_id index: meant for a few recent runs at each scrape."""
        sent = DeliveryRow.status == JobStatus.SENT.value
        with transaction(self._sessions) as session:
            starts = session.execute(
                select(DeliveryRow.run_id, func.min(DeliveryRow.created_at))
                .where(DeliveryRow.run_id.in_(list(run_ids))).group_by(DeliveryRow.run_id)
            ).all()
            found: dict[str, DeliveryTimes] = {}
            for run_id, planned in starts:
                first = session.scalar(select(func.min(DeliveryRow.updated_at))
                                       .where(DeliveryRow.run_id == run_id, sent))
                in_pass = and_(DeliveryRow.run_id == run_id,
                               DeliveryRow.created_at <= planned + pass_)
                last = session.scalar(select(func.max(DeliveryRow.updated_at))
                                      .where(in_pass, sent))
                waiting = session.scalar(select(func.count()).where(
                    in_pass, DeliveryRow.status.notin_([s.value for s in FINAL])))
                found[str(run_id)] = DeliveryTimes(planned, first, last, int(waiting or 0))
        return found

    def kind_counts(self, kind: str) -> dict[JobStatus, int]:
        """How many messages of one kind (share, confirm, digest) are in each state."""
        return self._counts(DeliveryRow.kind == kind)

    def _counts(self, where: Any) -> dict[JobStatus, int]:
        with transaction(self._sessions) as session:
            rows = session.execute(select(DeliveryRow.status, func.count()).where(where)
                                   .group_by(DeliveryRow.status)).all()
        return {JobStatus(status): int(count) for status, count in rows}

    def wait_for_run(self, run_id: str, total: int, timeout: float,
                     on_progress: Callable[[int], None] | None = None,
                     poll: float = 0.1) -> dict[JobStatus, int]:
        """Poll a digest run until `total` of its messages are final or `timeout`
        passes; `on_progress(finished)` after each look. Returns the last counts."""
        deadline = time.monotonic() + timeout
        while True:
            counts = self.run_counts(run_id)
            done = finished(counts)
            if on_progress is not None:
                on_progress(done)
            if done >= total or time.monotonic() > deadline:
                return counts
            time.sleep(poll)

    def failed(self, since: datetime | None = None, *, run_id: str | None = None,
               limit: int = 1000) -> list[JobRecord]:
        """Failed messages, newest first."""
        query = select(DeliveryRow).where(DeliveryRow.status == JobStatus.FAILED.value)
        if since is not None:
            query = query.where(DeliveryRow.updated_at >= since)
        if run_id is not None:
            query = query.where(DeliveryRow.run_id == run_id)
        with transaction(self._sessions) as session:
            rows = session.execute(query.order_by(DeliveryRow.updated_at.desc())
                                   .limit(limit)).scalars()
            return [_record(row) for row in rows]

    def outcome_counts(self, since: datetime, statuses: Collection[JobStatus]
                       ) -> dict[str, dict[str, int]]:
        """kind -> status -> how many messages reached it since `since` (every status
        asked for is present, 0 where none)."""
        with transaction(self._sessions) as session:
            rows = session.execute(
                select(DeliveryRow.kind, DeliveryRow.status, func.count())
                .where(DeliveryRow.updated_at >= since)
                .where(DeliveryRow.status.in_([s.value for s in statuses]))
                .group_by(DeliveryRow.kind, DeliveryRow.status)).all()
        found: dict[str, dict[str, int]] = {}
        for kind, status, count in rows:
            found.setdefault(kind, {s.value: 0 for s in statuses})[status] = int(count)
        return found

    def oldest_unfinished(self, kind: str) -> datetime | None:
        """When the oldest message of `kind` still waiting (queued, sending, deferred)
        was created: a digest older than its window has missed its morning."""
        with transaction(self._sessions) as session:
            return session.execute(
                select(func.min(DeliveryRow.created_at)).where(DeliveryRow.kind == kind)
                .where(DeliveryRow.status.in_([s.value for s in JobStatus
                                               if s not in FINAL]))).scalar()

    def top_replies(self, since: datetime, statuses: Collection[JobStatus],
                    limit: int = 5) -> list[tuple[str, str, int]]:
        """(status, reply, messages) of the replies most often behind `statuses` since
        `since`, most frequent first: what ops reads to see why mail waits or fails."""
        count = func.count().label("n")
        with transaction(self._sessions) as session:
            rows = session.execute(
                select(DeliveryRow.status, DeliveryRow.last_reply, count)
                .where(DeliveryRow.updated_at >= since)
                .where(DeliveryRow.status.in_([s.value for s in statuses]))
                .group_by(DeliveryRow.status, DeliveryRow.last_reply)
                .order_by(count.desc(), DeliveryRow.last_reply).limit(limit)).all()
        return [(status, reply, int(n)) for status, reply, n in rows]
