"""The suppression list: addresses that hard-bounced or complained. Every send checks
it, so one bad address costs the sender's reputation one bounce, not one a day."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table, delete, select

from mailer.db import SessionFactory, insert_ignore, transaction
from mailer.models import SuppressionRow, utcnow

SOURCES = ("smtp", "webhook", "manual")


@dataclass(frozen=True)
class Suppression:
    email: str
    reason: str
    source: str
    created_at: datetime


class SuppressionStore:
    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    def add_many(self, entries: Sequence[tuple[str, str]], source: str) -> int:
        """(address, reason) pairs; an address already listed keeps its first reason.
        Returns how many were new. An empty address is never listed: it would stand for
        nobody, and a caller that has one has a bug this must not turn into data."""
        now = utcnow()
        rows: dict[str, dict[str, object]] = {}
        for email, reason in entries:
            if not email.strip():
                continue
            rows.setdefault(email.lower(), {"email_key": email.lower(), "email": email,
                                            "reason": reason[:500], "source": source,
                                            "created_at": now})
        if not rows:
            return 0
        with transaction(self._sessions) as session:
            return len(insert_ignore(session, cast(Table, SuppressionRow.__table__),
                                     list(rows.values()), ["email_key"],
                                     returning="email_key"))

    def add(self, email: str, reason: str, source: str) -> bool:
        return self.add_many([(email, reason)], source) == 1

    def suppressed(self, emails: Iterable[str]) -> set[str]:
        """Which of these addresses are listed (lower-cased)."""
        keys = {e.lower() for e in emails}
        if not keys:
            return set()
        with transaction(self._sessions) as session:
            return set(session.execute(select(SuppressionRow.email_key)
                                       .where(SuppressionRow.email_key.in_(keys))).scalars())

    def remove(self, email: str) -> bool:
        with transaction(self._sessions) as session:
            result = session.execute(delete(SuppressionRow)
                                     .where(SuppressionRow.email_key == email.lower()))
            return bool(getattr(result, "rowcount", 0))

    def list(self, limit: int = 1000) -> list[Suppression]:
        with transaction(self._sessions) as session:
            rows = session.execute(select(SuppressionRow)
                                   .order_by(SuppressionRow.created_at.desc())
                                   .limit(limit)).scalars()
            return [Suppression(r.email, r.reason, r.source, r.created_at) for r in rows]
