"""What a subscription is, apart from where it is kept: a subscriber's status, their
preferences, a sign-up, the section catalogue, and the validation of what readers and
operators type into them. The store, the bulk import and the CSV reader all build on
this, so none of them needs another.

A subscriber is `pending` from sign-up until the confirmation link is followed, then
`active`; `unsubscribed` is final until the person signs up and confirms again. Only
active subscribers ever get a digest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import lru_cache

from mailer.articles.model import slugify
from mailer.errors import InvalidInput
from mailer.subscriptions.zones import resolve_zone
from mailer.validation import clean_email, clean_name, mask_address


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


@dataclass(frozen=True)
class ImportReport:
    """What a bulk import did (`mailer.subscriptions.bulk`)."""

    added: int
    updated: int
    kept_unsubscribed: int
