"""A newsletter: a name, a cadence, the sections it covers, a sender name and a template.

The daily digest is one of them, under the reserved slug `daily`: every site has it,
it cannot be removed or given another cadence, and its readers' sections are kept in
their subscriber row (the digest planner reads a million of them set-based from one
index); every other newsletter's readers are in `subscriptions`. A reader chooses, per
newsletter, which of its sections they want; a newsletter has one cadence, so "Politics
as it happens, Economy weekly" is two newsletters with one section each.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from mailer.errors import InvalidInput
from mailer.subscriptions.model import DAILY, SectionCatalog
from mailer.subscriptions.zones import zone_in_words

__all__ = ["DAILY", "Cadence", "Newsletter", "default_newsletters", "validate_newsletter"]
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
TEMPLATES = ("digest", "alert")
_SLUG = re.compile(r"^[a-z][a-z0-9-]{0,39}$")


class Cadence(StrEnum):
    IMMEDIATE = "immediate"
    DAILY = "daily"
    WEEKLY = "weekly"


@dataclass(frozen=True)
class Newsletter:
    slug: str
    name: str
    cadence: Cadence
    sections: tuple[str, ...]  # section slugs, sorted; () = every section the site has
    weekday: int | None = None  # weekly: 0 = Monday
    sender_name: str = ""  # "" = the site's sender name
    template: str = "digest"
    position: int = 0  # order on the forms

    def offers(self, catalog: SectionCatalog) -> tuple[str, ...]:
        """The sections a reader can choose in it."""
        return self.sections or tuple(sorted(catalog.names))

    def when_at(self, hour: int, timezone: str) -> str:
        """When a reader at `hour` in `timezone` gets it: "every Sunday at 07:00, Baku
        time"."""
        at = f"at {hour:02d}:00, {zone_in_words(timezone)}"
        if self.cadence is Cadence.WEEKLY:
            return f"every {WEEKDAYS[self.weekday or 0]} {at}"
        if self.cadence is Cadence.DAILY:
            return f"every day {at}"
        return "as it happens"

    @property
    def when(self) -> str:
        """How often, in the words a reader sees beside it."""
        if self.cadence is Cadence.WEEKLY:
            return f"every {WEEKDAYS[self.weekday or 0]}, at your hour"
        if self.cadence is Cadence.DAILY:
            return "every day, at your hour"
        return "as it happens"


def default_newsletters() -> tuple[Newsletter, ...]:
    """What a site offers before an operator changes anything (migrations 0007 and 0008
    write the same rows): the daily digest, a weekly round-up on Sundays, and breaking
    news as it happens."""
    return (Newsletter(DAILY, "Daily digest", Cadence.DAILY, ()),
            Newsletter("weekly", "The week in review", Cadence.WEEKLY, (), weekday=6,
                       position=1),
            Newsletter("breaking", "Breaking news", Cadence.IMMEDIATE, (), template="alert",
                       position=2))


def validate_newsletter(data: Mapping[str, object], catalog: SectionCatalog, *,
                        existing: Newsletter | None = None) -> Newsletter:
    """A new newsletter from `data`, or `existing` with the fields `data` names changed.
    Raises InvalidInput naming each bad field."""
    errors: dict[str, str] = {}
    base = existing or Newsletter("", "", Cadence.DAILY, ())
    values: dict[str, object] = {}
    for field, check in _CHECKS.items():
        if field not in data or data[field] is None:
            continue
        try:
            values[field] = check(data[field], catalog)
        except ValueError as exc:
            errors[field] = str(exc)
    if "cadence" in values and "template" not in values:  # the template follows the cadence
        values["template"] = "alert" if values["cadence"] is Cadence.IMMEDIATE else "digest"
    if existing is not None and "slug" in values and values["slug"] != existing.slug:
        errors["slug"] = "cannot be changed; add a new newsletter instead"
    found = replace(base, **values) if not errors else base  # type: ignore[arg-type]
    errors.update(_whole(found, existing) if not errors else {})
    if errors:
        raise InvalidInput(errors)
    if found.cadence is not Cadence.WEEKLY:
        found = replace(found, weekday=None)
    return found


def _whole(found: Newsletter, existing: Newsletter | None) -> dict[str, str]:
    errors: dict[str, str] = {}
    if not found.slug:
        errors["slug"] = "is required: lower-case letters, digits and dashes"
    if not found.name:
        errors["name"] = "is required"
    if found.cadence is Cadence.WEEKLY and found.weekday is None:
        errors["weekday"] = "is required for a weekly newsletter (Monday to Sunday)"
    if (found.cadence is Cadence.IMMEDIATE) != (found.template == "alert"):
        errors["template"] = "an immediate newsletter sends alerts (template 'alert'), and " \
                             "only an immediate one does"
    if found.slug == DAILY and found.cadence is not Cadence.DAILY:
        errors["cadence"] = "the daily digest stays daily"
    if existing is None and found.slug == DAILY:
        errors["slug"] = "'daily' is the site's daily digest, which always exists"
    return errors


def _slug(value: object, _: SectionCatalog) -> str:
    if not isinstance(value, str) or not _SLUG.match(value.strip()):
        raise ValueError("must be lower-case letters, digits and dashes, starting with a "
                         "letter (at most 40)")
    return value.strip()


def _text(limit: int) -> Callable[[object, SectionCatalog], str]:
    def check(value: object, _: SectionCatalog) -> str:
        if not isinstance(value, str) or len(value.strip()) > limit or any(
                ord(c) < 32 for c in value):
            raise ValueError(f"must be one line of at most {limit} characters")
        return " ".join(value.split())
    return check


def _cadence(value: object, _: SectionCatalog) -> Cadence:
    try:
        return Cadence(str(value).strip().lower())
    except ValueError:
        raise ValueError("must be immediate, daily or weekly") from None


def _weekday(value: object, _: SectionCatalog) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 6:
        return value
    if isinstance(value, str):
        for number, name in enumerate(WEEKDAYS):
            if value.strip().lower() in (name.lower(), name[:3].lower()):
                return number
    raise ValueError("must be a day of the week (Monday to Sunday)")


def _sections(value: object, catalog: SectionCatalog) -> tuple[str, ...]:
    if value in ("", [], "all"):
        return ()
    return catalog.parse(value)


def _template(value: object, _: SectionCatalog) -> str:
    if value not in TEMPLATES:
        raise ValueError(f"must be one of: {', '.join(TEMPLATES)}")
    return str(value)


def _position(value: object, _: SectionCatalog) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 1000:
        raise ValueError("must be a whole number from 0 to 1000")
    return value


_CHECKS: dict[str, Callable[[object, SectionCatalog], object]] = {
    "slug": _slug, "name": _text(80), "cadence": _cadence, "weekday": _weekday,
    "sections": _sections, "sender_name": _text(80), "template": _template,
    "position": _position}


def by_slug(newsletters: Sequence[Newsletter]) -> dict[str, Newsletter]:
    return {n.slug: n for n in newsletters}
