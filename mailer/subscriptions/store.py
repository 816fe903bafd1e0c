"""Subscribers: who gets the digest, in which sections, at what local hour.

A subscriber is `pending` from sign-up until the confirmation link is followed, then
`active`; `unsubscribed` is final until the person signs up and confirms again. Only
active subscribers ever get a digest.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from uuid import uuid4

from sqlalchemy import Row, Select, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mailer.articles.model import slugify
from mailer.db import SessionFactory, transaction
from mailer.errors import InvalidInput, NotFound
from mailer.models import SubscriberRow, utcnow
from mailer.subscriptions.zones import resolve_zone
from mailer.validation import clean_email, clean_name, mask_address

if TYPE_CHECKING:
    from mailer.subscriptions.bulk import ImportReport


class SubscriberStatus(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    UNSUBSCRIBED = "unsubscribed"


@dataclass(frozen=True)
class Preferences:
    sections: tuple[str, ...]  # section slugs, sorted
    timezone: str
    hour: int


@dataclass(frozen=True)
class SignUp:
    email: str
    name: str
    preferences: Preferences


@dataclass(frozen=True)
class Subscriber:
    id: str
    email: str
    name: str
    preferences: Preferences
    status: SubscriberStatus
    created_at: datetime
    confirmation_sent_at: datetime | None
    confirmed_at: datetime | None

    @property
    def masked_email(self) -> str:
        return mask_address(self.email)


class SectionCatalog:
    """The sections readers can choose, by display name and slug ("Politics", "politics")."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = {slugify(name): name for name in names}
        # An imported list repeats a handful of section strings a million times.
        self._parse_text = lru_cache(maxsize=1024)(self._parse_text_uncached)

    def parse(self, value: object) -> tuple[str, ...]:
        """A list, or one comma-separated string, of names or slugs; case does not matter."""
        if isinstance(value, str):
            return self._parse_text(value)
        return self._parse_items(value)

    def _parse_text_uncached(self, value: str) -> tuple[str, ...]:
        return self._parse_items([v for v in value.split(",") if v.strip()])

    def _parse_items(self, value: object) -> tuple[str, ...]:
        if isinstance(value, list | tuple):
            items = list(value)
        else:
            raise ValueError("must be a list of section names")
        slugs = set()
        for item in items:
            if not isinstance(item, str):
                raise ValueError("must be a list of section names")
            slug = slugify(item)
            if slug not in self.names:
                known = ", ".join(self.names.values())
                raise ValueError(f"unknown section {item.strip()[:60]!r} (choose from {known})")
            slugs.add(slug)
        if not slugs:
            raise ValueError("choose at least one section")
        return tuple(sorted(slugs))


def parse_timezone(value: object) -> str:
    return resolve_zone(value)


def parse_hour(value: object) -> int:
    if isinstance(value, bool):
        raise ValueError("must be a whole hour from 0 to 23")
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int) or not 0 <= value <= 23:
        raise ValueError("must be a whole hour from 0 to 23")
    return value


def validate_preferences(data: Mapping[str, object], catalog: SectionCatalog, *,
                         default: Preferences) -> tuple[Preferences, dict[str, str]]:
    errors: dict[str, str] = {}
    values: dict[str, object] = {}
    for field, parse, fallback in (("sections", catalog.parse, default.sections),
                                   ("timezone", parse_timezone, default.timezone),
                                   ("hour", parse_hour, default.hour)):
        raw = data.get(field)
        if raw is None or raw == "" or raw == []:
            values[field] = fallback
            continue
        try:
            values[field] = parse(raw)
        except ValueError as exc:
            errors[field] = str(exc)
    if errors:
        return default, errors
    return Preferences(values["sections"], values["timezone"], values["hour"]), {}  # type: ignore[arg-type]


def validate_signup(data: Mapping[str, object], catalog: SectionCatalog, *,
                    default: Preferences, check_deliverability: bool = False) -> SignUp:
    errors: dict[str, str] = {}
    email = data.get("email", "")
    name = data.get("name") or ""
    clean = ""
    if not isinstance(email, str):
        errors["email"] = "must be a string"
    else:
        try:
            clean = clean_email(email, check_deliverability=check_deliverability)[0]
        except ValueError as exc:
            errors["email"] = str(exc)
    if not isinstance(name, str):
        errors["name"] = "must be a string"
    elif name.strip():
        try:
            name = clean_name(name)
        except ValueError as exc:
            errors["name"] = str(exc)
    hint = data.get("timezone_hint")  # what the browser reports, where it reports one
    if not data.get("timezone") and isinstance(hint, str) and hint:
        with suppress(ValueError):  # not the reader's mistake: the default zone serves
            data = {**data, "timezone": resolve_zone(hint)}
    preferences, pref_errors = validate_preferences(data, catalog, default=default)
    errors.update(pref_errors)
    if errors:
        raise InvalidInput(errors)
    return SignUp(clean, str(name).strip(), preferences)


def email_key(email: str) -> str:
    return email.lower()


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


def _apply(row: SubscriberRow, signup: SignUp, now: datetime) -> None:
    row.name = signup.name or row.name or ""
    row.sections = ",".join(signup.preferences.sections)
    row.timezone = signup.preferences.timezone
    row.hour = signup.preferences.hour
    row.updated_at = now


def _subscriber(row: SubscriberRow | Row[Any]) -> Subscriber:
    """From an ORM row or a plain result row: both name the same columns."""
    return Subscriber(
        id=row.id, email=row.email, name=row.name,
        preferences=Preferences(tuple(s for s in row.sections.split(",") if s), row.timezone,
                                row.hour),
        status=SubscriberStatus(row.status), created_at=row.created_at,
        confirmation_sent_at=row.confirmation_sent_at, confirmed_at=row.confirmed_at)


class SubscriberStore:
    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    def get(self, subscriber_id: str) -> Subscriber:
        with transaction(self._sessions) as session:
            return _subscriber(_locked(session, subscriber_id, lock=False))

    def get_many(self, ids: Iterable[str]) -> dict[str, Subscriber]:
        """By id, for a digest batch: plain rows, not ORM objects (it is per message)."""
        wanted = list(set(ids))
        found: dict[str, Subscriber] = {}
        table = SubscriberRow.__table__
        with transaction(self._sessions) as session:
            for start in range(0, len(wanted), 500):
                for row in session.execute(select(table).where(
                        table.c.id.in_(wanted[start:start + 500]))):
                    found[row.id] = _subscriber(row)
        return found

    def find(self, email: str) -> Subscriber | None:
        with transaction(self._sessions) as session:
            row = session.scalar(select(SubscriberRow)
                                 .where(SubscriberRow.email_key == email_key(email)))
            return _subscriber(row) if row else None

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
            if row.status != SubscriberStatus.ACTIVE:
                row.status = SubscriberStatus.PENDING.value
                _apply(row, signup, now)
            last = row.confirmation_sent_at
            send = last is None or now - last >= resend_after
            if send:
                row.confirmation_sent_at = now
            session.flush()
            return _subscriber(row), send

    def add_active(self, signup: SignUp) -> Subscriber:
        """For an operator who already holds the person's consent (CLI `add --confirmed`)."""
        now = utcnow()
        with transaction(self._sessions) as session:
            row = _find_or_add(session, signup.email, now)
            _apply(row, signup, now)
            row.status = SubscriberStatus.ACTIVE.value
            row.confirmed_at = row.confirmed_at or now
            row.unsubscribed_at = None
            session.flush()
            return _subscriber(row)

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
            return _subscriber(row)

    def unsubscribe(self, subscriber_id: str) -> Subscriber:
        with transaction(self._sessions) as session:
            row = _locked(session, subscriber_id)
            if row.status != SubscriberStatus.UNSUBSCRIBED:
                row.status = SubscriberStatus.UNSUBSCRIBED.value
                row.unsubscribed_at = row.updated_at = utcnow()
            return _subscriber(row)

    def update_preferences(self, subscriber_id: str, preferences: Preferences) -> Subscriber:
        with transaction(self._sessions) as session:
            row = _locked(session, subscriber_id)
            row.sections = ",".join(preferences.sections)
            row.timezone = preferences.timezone
            row.hour = preferences.hour
            row.updated_at = utcnow()
            return _subscriber(row)

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

    def planning_groups(self) -> list[tuple[str, int, tuple[str, ...], int]]:
        """(time zone, hour, sections, how many) of the active list: a few hundred
        groups at most, however long the list."""
        with transaction(self._sessions) as session:
            rows = session.execute(
                select(SubscriberRow.timezone, SubscriberRow.hour, SubscriberRow.sections,
                       func.count())
                .where(SubscriberRow.status == SubscriberStatus.ACTIVE.value)
                .group_by(SubscriberRow.timezone, SubscriberRow.hour, SubscriberRow.sections)
                .order_by(SubscriberRow.timezone, SubscriberRow.hour, SubscriberRow.sections))
            return [(tz, hour, tuple(s for s in sections.split(",") if s), int(n))
                    for tz, hour, sections, n in rows]

    @staticmethod
    def group_page(timezone: str, hour: int, sections: tuple[str, ...], after: str
                   ) -> Select[str, str, str]:
        """A query of the active subscribers of one planning group (`id`, `email`, and
        `position`, where the next page starts), in address order after `after`: for
        the ledger to insert from, a page (its LIMIT) at a time."""
        return (select(SubscriberRow.id, SubscriberRow.email,
                       SubscriberRow.email_key.label("position"))
                .where(SubscriberRow.status == SubscriberStatus.ACTIVE.value)
                .where(SubscriberRow.timezone == timezone, SubscriberRow.hour == hour,
                       SubscriberRow.sections == ",".join(sections))
                .where(SubscriberRow.email_key > after).order_by(SubscriberRow.email_key))

    def list(self, status: SubscriberStatus | None = None) -> list[Subscriber]:
        with transaction(self._sessions) as session:
            query = select(SubscriberRow).order_by(SubscriberRow.created_at,
                                                   SubscriberRow.email_key)
            if status is not None:
                query = query.where(SubscriberRow.status == status.value)
            return [_subscriber(row) for row in session.scalars(query)]

    def import_active(self, signups: Iterable[SignUp]) -> ImportReport:
        """Insert or update many at once, as active; see `mailer.subscriptions.bulk`."""
        from mailer.subscriptions.bulk import import_active

        return import_active(self._sessions, signups)
