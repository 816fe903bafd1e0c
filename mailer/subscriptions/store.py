"""The `subscribers` table's one owner: who gets the digest, in which sections, at what
local hour. The types and their validation are in `mailer.subscriptions.model`."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any
from uuid import uuid4

from sqlalchemy import Row, Select, delete, func, literal, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mailer.db import InList, SessionFactory, transaction
from mailer.errors import NotFound
from mailer.models import SubscriberRow, SubscriptionRow, utcnow
from mailer.subscriptions import bulk
from mailer.subscriptions.model import (
    DAILY,
    ImportReport,
    Preferences,
    SignUp,
    Subscriber,
    SubscriberStatus,
    email_key,
)

Choices = tuple[tuple[str, tuple[str, ...]], ...]


def _locked(session: Session, subscriber_id: str, *, lock: bool = True,
            missing: str = "no such subscriber (the address may have been removed)"
            ) -> SubscriberRow:
    row = session.get(SubscriberRow, subscriber_id, with_for_update=lock)
    if row is None:
        raise NotFound(missing)
    return row


def _find_or_add(session: Session, email: str, now: datetime) -> SubscriberRow:
    row = session.scalar(select(SubscriberRow)
                         .where(SubscriberRow.email_key == email_key(email)).with_for_update())
    if row is None:
        row = SubscriberRow(id=uuid4().hex, email=email, email_key=email_key(email),
                            created_at=now)
        session.add(row)
    return row


def _apply(session: Session, row: SubscriberRow, signup: SignUp, now: datetime) -> None:
    """A sign-up's choices, all of them: one confirmation covers every newsletter."""
    row.name = signup.name or row.name or ""
    row.sections = ",".join(signup.preferences.sections)
    row.timezone = signup.preferences.timezone
    row.hour = signup.preferences.hour
    row.updated_at = now
    session.flush()  # a new subscriber's row before the rows that name it
    _write_choices(session, row.id, signup.preferences, now)


def _choices(session: Session, ids: list[str]) -> dict[str, tuple[Choices, str]]:
    """Each subscriber's sections in the newsletters besides the daily digest, and what
    they want of alerts at night."""
    found: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
    nights: dict[str, str] = {}
    table = SubscriptionRow.__table__
    for start in range(0, len(ids), 500):
        for subscriber_id, newsletter, sections, at_night in session.execute(
                select(table.c.subscriber_id, table.c.newsletter, table.c.sections,
                       table.c.at_night)
                .where(InList(table.c.subscriber_id, "ids"))
                .order_by(table.c.newsletter), {"ids": ids[start:start + 500]}):
            found.setdefault(subscriber_id, []).append(
                (newsletter, tuple(s for s in sections.split(",") if s)))
            nights[subscriber_id] = at_night
    return {subscriber_id: (tuple(chosen), nights[subscriber_id])
            for subscriber_id, chosen in found.items()}


def _write_choices(session: Session, subscriber_id: str, preferences: Preferences,
                   now: datetime) -> None:
    session.execute(delete(SubscriptionRow).where(SubscriptionRow.subscriber_id == subscriber_id))
    session.add_all(SubscriptionRow(subscriber_id=subscriber_id, newsletter=slug,
                                    sections=",".join(sections), at_night=preferences.at_night,
                                    updated_at=now)
                    for slug, sections in preferences.newsletters if sections)


def _with_choices(session: Session, row: SubscriberRow) -> Subscriber:
    return _subscriber(row, *_choices(session, [row.id]).get(row.id, ((), "morning")))


def _subscriber(row: SubscriberRow | Row[Any], choices: Choices = (),
                at_night: str = "morning") -> Subscriber:
    """From an ORM row or a plain result row: both name the same columns."""
    return Subscriber(
        id=row.id, email=row.email, name=row.name,
        preferences=Preferences(tuple(s for s in row.sections.split(",") if s), row.timezone,
                                row.hour, choices, at_night),
        status=SubscriberStatus(row.status), created_at=row.created_at,
        confirmation_sent_at=row.confirmation_sent_at, confirmed_at=row.confirmed_at)


def _chose(newsletter: str, section: str) -> tuple[Any, ...]:
    """Active, and `section` among their sections in `newsletter` (comma-joined)."""
    return (SubscriberRow.status == SubscriberStatus.ACTIVE.value,
            SubscriptionRow.newsletter == newsletter,
            (literal(",") + SubscriptionRow.sections + literal(",")).like(f"%,{section},%"))


class SubscriberStore:
    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    def get(self, subscriber_id: str) -> Subscriber:
        with transaction(self._sessions) as session:
            return _with_choices(session, _locked(session, subscriber_id, lock=False))

    def get_many(self, ids: Iterable[str]) -> dict[str, Subscriber]:
        """By id, for a digest batch: plain rows, not ORM objects (it is per message)."""
        wanted = list(set(ids))
        found: dict[str, Subscriber] = {}
        table = SubscriberRow.__table__
        with transaction(self._sessions) as session:
            choices = _choices(session, wanted)
            for start in range(0, len(wanted), 500):
                for row in session.execute(select(table).where(
                        InList(table.c.id, "ids")),
                        {"ids": wanted[start:start + 500]}):
                    found[row.id] = _subscriber(row, *choices.get(row.id, ((), "morning")))
        return found

    def find(self, email: str) -> Subscriber | None:
        with transaction(self._sessions) as session:
            row = session.scalar(select(SubscriberRow)
                                 .where(SubscriberRow.email_key == email_key(email)))
            return _with_choices(session, row) if row else None

    def sign_up(self, signup: SignUp, resend_after: timedelta) -> tuple[Subscriber, bool]:
        """Record a sign-up; returns the subscriber and whether to e-mail them now.

        New and unsubscribed addresses become pending; a pending one gets its choices
        updated; an active one is left as it is (its preferences page changes it). A
        mail goes out unless one went to the address less than `resend_after` ago, so
        the form cannot be used to flood someone's inbox.
        """
        try:
            return self._sign_up(signup, resend_after)
        except IntegrityError:
            # Two sign-ups of one new address raced and the other inserted first: the
            # second pass finds its row.
            return self._sign_up(signup, resend_after)

    def _sign_up(self, signup: SignUp, resend_after: timedelta) -> tuple[Subscriber, bool]:
        now = utcnow()
        with transaction(self._sessions) as session:
            row = _find_or_add(session, signup.email, now)
            last = row.confirmation_sent_at
            send = last is None or now - last >= resend_after
            if row.status != SubscriberStatus.ACTIVE:
                # A pending address's choices change only with a new confirmation: the
                # one in their inbox lists what confirming it gives them.
                changes = send or row.status != SubscriberStatus.PENDING
                row.status = SubscriberStatus.PENDING.value
                if changes:
                    _apply(session, row, signup, now)
            if send:
                row.confirmation_sent_at = now
            session.flush()
            return _with_choices(session, row), send

    def add_active(self, signup: SignUp) -> Subscriber:
        """For an operator who already holds the person's consent (CLI `add --confirmed`)."""
        now = utcnow()
        with transaction(self._sessions) as session:
            row = _find_or_add(session, signup.email, now)
            row.status = SubscriberStatus.ACTIVE.value
            _apply(session, row, signup, now)
            row.confirmed_at = row.confirmed_at or now
            row.unsubscribed_at = None
            session.flush()
            return _with_choices(session, row)

    def confirm(self, subscriber_id: str) -> Subscriber:
        """Pending becomes active; confirming twice is harmless; an unsubscribed address
        must sign up again (its old link does not resubscribe it)."""
        with transaction(self._sessions) as session:
            row = _locked(session, subscriber_id, missing="this sign-up has expired or was "
                                                          "removed: please sign up again")
            if row.status == SubscriberStatus.PENDING:
                row.status = SubscriberStatus.ACTIVE.value
                row.confirmed_at = row.updated_at = utcnow()
            elif row.status == SubscriberStatus.UNSUBSCRIBED:
                raise NotFound("this address has unsubscribed since: please sign up again")
            return _with_choices(session, row)

    def unsubscribe(self, subscriber_id: str) -> Subscriber:
        with transaction(self._sessions) as session:
            row = _locked(session, subscriber_id)
            if row.status != SubscriberStatus.UNSUBSCRIBED:
                row.status = SubscriberStatus.UNSUBSCRIBED.value
                row.unsubscribed_at = row.updated_at = utcnow()
            return _with_choices(session, row)

    def leave(self, subscriber_id: str, newsletter: str) -> Subscriber:
        """Out of one newsletter (the daily digest: none of its sections); out of
        everything, unsubscribed, when it was the last one they took."""
        with transaction(self._sessions) as session:
            row = _locked(session, subscriber_id)
            now = utcnow()
            if newsletter == DAILY:
                row.sections = ""
            else:
                session.execute(delete(SubscriptionRow).where(
                    SubscriptionRow.subscriber_id == subscriber_id,
                    SubscriptionRow.newsletter == newsletter))
            row.updated_at = now
            left = _with_choices(session, row)
            if not left.preferences.anything and row.status != SubscriberStatus.UNSUBSCRIBED:
                row.status = SubscriberStatus.UNSUBSCRIBED.value
                row.unsubscribed_at = now
                left = _subscriber(row, left.preferences.newsletters, left.preferences.at_night)
            return left

    def update_preferences(self, subscriber_id: str, preferences: Preferences, *,
                           resubscribe: bool = False) -> Subscriber:
        """`resubscribe`: an unsubscribed reader is active again (from their own link)."""
        with transaction(self._sessions) as session:
            row = _locked(session, subscriber_id)
            now = utcnow()
            if resubscribe and row.status == SubscriberStatus.UNSUBSCRIBED:
                row.status = SubscriberStatus.ACTIVE.value
                row.unsubscribed_at = None
            row.sections = ",".join(preferences.sections)
            row.timezone = preferences.timezone
            row.hour = preferences.hour
            row.updated_at = now
            _write_choices(session, row.id, preferences, now)
            return _with_choices(session, row)

    def expire_pending(self, older_than: timedelta) -> int:
        """Forget sign-ups never confirmed: their confirmation links have expired anyway."""
        cutoff = utcnow() - older_than
        with transaction(self._sessions) as session:
            result = session.execute(delete(SubscriberRow)
                                     .where(SubscriberRow.status == SubscriberStatus.PENDING.value)
                                     .where(SubscriberRow.created_at < cutoff))
            return int(getattr(result, "rowcount", 0) or 0)

    def delete(self, email: str) -> bool:
        """Erase an address entirely (a person's request to be forgotten)."""
        with transaction(self._sessions) as session:
            result = session.execute(delete(SubscriberRow)
                                     .where(SubscriberRow.email_key == email_key(email)))
            return bool(getattr(result, "rowcount", 0))

    def readers_by_newsletter(self, daily: str = DAILY) -> dict[str, int]:
        """Active readers of each newsletter someone chose (the daily digest's under
        `daily`)."""
        active = SubscriberRow.status == SubscriberStatus.ACTIVE.value
        with transaction(self._sessions) as session:
            found = {daily: int(session.scalar(
                select(func.count()).where(active, SubscriberRow.sections != "")) or 0)}
            for newsletter, count in session.execute(
                    select(SubscriptionRow.newsletter, func.count())
                    .join(SubscriberRow, SubscriberRow.id == SubscriptionRow.subscriber_id)
                    .where(active).group_by(SubscriptionRow.newsletter)):
                found[newsletter] = int(count)
        return found

    def planning_groups(self, newsletter: str = DAILY
                        ) -> list[tuple[str, int, tuple[str, ...], int]]:
        """(time zone, hour, sections, how many) of a newsletter's active readers (the
        daily digest's by default): a few hundred groups at most, however long the
        list."""
        if newsletter != DAILY:
            query = (select(SubscriberRow.timezone, SubscriberRow.hour,
                            SubscriptionRow.sections, func.count())
                     .join(SubscriberRow, SubscriberRow.id == SubscriptionRow.subscriber_id)
                     .where(SubscriptionRow.newsletter == newsletter))
            keys = (SubscriberRow.timezone, SubscriberRow.hour, SubscriptionRow.sections)
        else:
            query = select(SubscriberRow.timezone, SubscriberRow.hour, SubscriberRow.sections,
                           func.count())
            keys = (SubscriberRow.timezone, SubscriberRow.hour, SubscriberRow.sections)
        with transaction(self._sessions) as session:
            rows = session.execute(
                query.where(SubscriberRow.status == SubscriberStatus.ACTIVE.value)
                .group_by(*keys).order_by(*keys))
            return [(tz, hour, tuple(s for s in sections.split(",") if s), int(n))
                    for tz, hour, sections, n in rows]

    @staticmethod
    def group_page(timezone: str, hour: int, sections: tuple[str, ...], after: str,
                   newsletter: str = DAILY) -> Select[str, str, str]:
        """A query of the active readers of one planning group (`id`, `email`, and
        `position`, where the next page starts), in address order after `after`: for
        the ledger to insert from, a page (its LIMIT) at a time."""
        query = (select(SubscriberRow.id, SubscriberRow.email,
                        SubscriberRow.email_key.label("position"))
                 .where(SubscriberRow.status == SubscriberStatus.ACTIVE.value)
                 .where(SubscriberRow.timezone == timezone, SubscriberRow.hour == hour))
        if newsletter == DAILY:
            query = query.where(SubscriberRow.sections == ",".join(sections))
        else:
            query = query.join(SubscriptionRow,
                               SubscriptionRow.subscriber_id == SubscriberRow.id).where(
                SubscriptionRow.newsletter == newsletter,
                SubscriptionRow.sections == ",".join(sections))
        return query.where(SubscriberRow.email_key > after).order_by(SubscriberRow.email_key)

    def alert_zones(self, newsletter: str, section: str) -> list[str]:
        """The time zones of the active readers who chose `section` in `newsletter`."""
        with transaction(self._sessions) as session:
            return list(session.scalars(
                select(SubscriberRow.timezone).distinct()
                .join(SubscriptionRow, SubscriptionRow.subscriber_id == SubscriberRow.id)
                .where(*_chose(newsletter, section))))

    @staticmethod
    def alert_page(newsletter: str, section: str, timezone: str, after: str,
                   only_mornings: bool = False) -> Select[str, str, str]:
        """A query of the active readers in `timezone` who chose `section` in
        `newsletter` (with `only_mornings`, those who want an alert of the night in
        the morning), as `group_page` gives them."""
        query = (select(SubscriberRow.id, SubscriberRow.email,
                        SubscriberRow.email_key.label("position"))
                 .join(SubscriptionRow, SubscriptionRow.subscriber_id == SubscriberRow.id)
                 .where(*_chose(newsletter, section), SubscriberRow.timezone == timezone,
                        SubscriberRow.email_key > after))
        if only_mornings:
            query = query.where(SubscriptionRow.at_night == "morning")
        return query.order_by(SubscriberRow.email_key)

    def list(self, status: SubscriberStatus | None = None) -> list[Subscriber]:
        with transaction(self._sessions) as session:
            query = select(SubscriberRow).order_by(SubscriberRow.created_at,
                                                   SubscriberRow.email_key)
            if status is not None:
                query = query.where(SubscriberRow.status == status.value)
            rows = list(session.scalars(query))
            choices = _choices(session, [row.id for row in rows])
            return [_subscriber(row, *choices.get(row.id, ((), "morning"))) for row in rows]

    def import_active(self, signups: Iterable[SignUp]) -> ImportReport:
        """Insert or update many at once, as active; see `mailer.subscriptions.bulk`."""

        return bulk.import_active(self._sessions, signups)
