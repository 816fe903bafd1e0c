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

# The daily digest's newsletter slug: the newsletter whose sections are in the
# subscriber's own row (mailer.newsletters.model says why).
DAILY = "daily"


def unsubscribe_value(subscriber_id: str, newsletter: str = DAILY) -> str:
    """What an unsubscribe link seals: the reader, and the newsletter the message came
    from (the daily digest's links seal the reader alone, as they always have)."""
    return subscriber_id if newsletter == DAILY else f"{subscriber_id}_{newsletter}"


def read_unsubscribe_value(value: str) -> tuple[str, str]:
    """(subscriber id, newsletter) of what `unsubscribe_value` sealed."""
    subscriber_id, _, newsletter = value.partition("_")  # URL-safe; in neither part
    return subscriber_id, newsletter or DAILY


class SubscriberStatus(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    UNSUBSCRIBED = "unsubscribed"


@dataclass(frozen=True)
class Preferences:
    """What a reader chose: the daily digest's sections, the other newsletters' (by
    slug; a newsletter with no sections chosen is not listed), and the zone and local
    hour their mail is timed by."""

    sections: tuple[str, ...]  # the daily digest's section slugs, sorted; () = none
    timezone: str
    hour: int
    newsletters: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (slug, sections), by slug
    at_night: str = "morning"  # an alert in their quiet hours: "morning" or "digest"

    def chosen(self, newsletter: str) -> tuple[str, ...]:
        """Their sections in a newsletter, the daily digest's included."""
        if newsletter == DAILY:
            return self.sections
        return dict(self.newsletters).get(newsletter, ())

    @property
    def anything(self) -> bool:
        """Whether any newsletter would send them anything."""
        return bool(self.sections) or any(sections for _, sections in self.newsletters)


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


# What a reader of alerts wants in their quiet hours: the alert waits for the morning,
# or the story is left to their digest.
AT_NIGHT = ("morning", "digest")

# Said the same on the sign-up form, the preferences page and the API.
NOTHING_CHOSEN = "Choose at least one section in one of the newsletters"


def newsletter_field(slug: str) -> str:
    """The form field of a newsletter's section checkboxes (the daily digest's is
    `sections`, as it was before there were others)."""
    return "sections" if slug == DAILY else f"sections-{slug}"


def validate_choices(data: Mapping[str, object], catalog: SectionCatalog,
                     offered: Mapping[str, Sequence[str]]
                     ) -> tuple[tuple[tuple[str, tuple[str, ...]], ...], dict[str, str]]:
    """The sections chosen in each newsletter besides the daily digest, from JSON's
    `newsletters` ({slug: sections}) or the form's `sections-SLUG` fields; `offered`:
    each newsletter's slug and the sections it covers. Absent means none."""
    given = data.get("newsletters")
    errors: dict[str, str] = {}
    if given is not None and not isinstance(given, Mapping):
        return (), {"newsletters": "must be an object of newsletter: sections"}
    if isinstance(given, Mapping):
        unknown = [str(slug)[:40] for slug in given if slug not in offered]
        if unknown:
            errors["newsletters"] = (f"unknown newsletter {unknown[0]!r} (choose from "
                                     f"{', '.join(offered) or 'none'})")
    chosen: list[tuple[str, tuple[str, ...]]] = []
    for slug, covers in sorted(offered.items()):
        field = newsletter_field(slug)
        raw = given.get(slug) if isinstance(given, Mapping) else data.get(field)
        if raw is None or raw == "" or raw == []:
            continue
        try:
            sections = catalog.parse(raw)
        except ValueError as exc:
            errors[field] = str(exc)
            continue
        outside = [catalog.names[s] for s in sections if s not in covers]
        if outside:
            errors[field] = f"{outside[0]} is not in this newsletter"
            continue
        chosen.append((slug, sections))
    return tuple(chosen), errors


def validate_preferences(data: Mapping[str, object], catalog: SectionCatalog, *,
                         default: Preferences, offered: Mapping[str, Sequence[str]]
                         | None = None) -> tuple[Preferences, dict[str, str]]:
    """`offered`: the newsletters besides the daily digest a reader may choose from."""
    newsletters, errors = validate_choices(data, catalog, offered or {})
    at_night = data.get("at_night") or default.at_night
    if at_night not in AT_NIGHT:
        errors["at_night"] = "must be morning or digest"
    values: dict[str, object] = {}
    for field, parse, fallback in (("sections", catalog.parse, default.sections),
                                   ("timezone", parse_timezone, default.timezone),
                                   ("hour", parse_hour, default.hour)):
        raw = data.get(field)
        if field == "sections" and raw == []:  # every box unticked: no daily digest
            values[field] = ()
            continue
        if raw is None or raw == "" or raw == []:
            values[field] = fallback
            continue
        try:
            values[field] = parse(raw)
        except ValueError as exc:
            errors[field] = str(exc)
    if errors:
        return default, errors
    return Preferences(values["sections"], values["timezone"], values["hour"],  # type: ignore[arg-type]
                       newsletters, str(at_night)), {}


def validate_signup(data: Mapping[str, object], catalog: SectionCatalog, *,
                    default: Preferences, check_deliverability: bool = False,
                    offered: Mapping[str, Sequence[str]] | None = None) -> SignUp:
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
    preferences, pref_errors = validate_preferences(data, catalog, default=default,
                                                    offered=offered)
    errors.update(pref_errors)
    if not errors and not preferences.anything:
        errors["sections"] = NOTHING_CHOSEN
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
