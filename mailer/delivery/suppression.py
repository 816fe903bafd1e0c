"""The suppression list: addresses that hard-bounced or complained. Every send checks
it, so one bad address costs the sender's reputation one bounce, not one a day. Beside
it, the addresses that refused articles shared by readers (the link in every share
e-mail): those refuse shares only, not the digest their owner may have asked for."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import BindParameter, Table, bindparam, delete, exists, select

from mailer.db import InList, SessionFactory, insert_ignore, transaction
from mailer.models import ShareRefusalRow, SuppressionRow, utcnow

SOURCES = ("smtp", "webhook", "manual")
SUPPRESSED_REPLY = "not sent: the address is on the suppression list"
REFUSED_REPLY = "not sent: the recipient asked for no more articles shared by readers"


@dataclass(frozen=True)
class Suppression:
    email: str
    reason: str
    source: str
    created_at: datetime


class SuppressionStore:
    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions
        key: BindParameter[str] = bindparam("key")
        self._listed = select(
            exists().where(SuppressionRow.email_key == key).label("suppressed"),
            exists().where(ShareRefusalRow.email_key == key).label("refused"))

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
            return set(session.execute(
                select(SuppressionRow.email_key)
                .where(InList(SuppressionRow.email_key, "keys")),
                {"keys": list(keys)}).scalars())

    def why_not_send(self, email: str, kind: str) -> str | None:
        """The ledger's reason not to send this kind of message to `email`, if any:
        both lists asked in one statement (two ORM loads were a fifth of a share
        delivery's CPU)."""
        with transaction(self._sessions) as session:
            row = session.execute(self._listed, {"key": email.lower()}).one()
        if row.suppressed:
            return SUPPRESSED_REPLY
        if kind == "share" and row.refused:
            return REFUSED_REPLY
        return None

    def refuse_shares(self, email: str) -> None:
        with transaction(self._sessions) as session:
            insert_ignore(session, cast(Table, ShareRefusalRow.__table__),
                          [{"email_key": email.lower(), "email": email,
                            "created_at": utcnow()}], ["email_key"], returning="email_key")

    def allow_shares(self, email: str) -> None:
        with transaction(self._sessions) as session:
            session.execute(delete(ShareRefusalRow)
                            .where(ShareRefusalRow.email_key == email.lower()))

    def refuses_shares(self, email: str) -> bool:
        with transaction(self._sessions) as session:
            return session.get(ShareRefusalRow, email.lower()) is not None

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
