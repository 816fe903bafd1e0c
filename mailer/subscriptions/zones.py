"""Time zones as readers name them: "Asia/Baku", "asia/baku", just "Baku" or the forms'
own "Baku (Asia), UTC+04:00" all mean the IANA zone Asia/Baku; the forms offer and show
the zones by city with their offset today, never as IANA's file names."""

from __future__ import annotations

import re
from datetime import date, datetime, time
from functools import lru_cache
from pathlib import Path
from zoneinfo import TZPATH, ZoneInfo, available_timezones

# Legacy aliases ("US/Eastern", "Cuba", "Etc/GMT+4") stay valid when typed, but the
# list a reader picks from holds one name per place, the way IANA files them now.
_REGIONS = ("Africa/", "America/", "Antarctica/", "Asia/", "Atlantic/", "Australia/",
            "Europe/", "Indian/", "Pacific/")
_NOT_A_ZONE = "must be a time zone such as Asia/Baku, or a city such as Baku"


@lru_cache(maxsize=1)
def _names() -> dict[str, str]:
    """Every spelling we accept, lower-cased, to its IANA name: the name itself and,
    for zones in a region, the city ("baku", "new york") when only one zone has it."""
    zones = available_timezones() | {"UTC"}
    names = {zone.lower(): zone for zone in zones}
    cities: dict[str, list[str]] = {}
    for zone in zones:
        if zone.startswith(_REGIONS):
            cities.setdefault(_city(zone).lower(), []).append(zone)
    for city, matches in cities.items():
        if len(matches) == 1:
            names.setdefault(city, matches[0])
    return names


def _city(zone: str) -> str:
    return zone.rsplit("/", 1)[-1].replace("_", " ")


def zone_in_words(zone: str) -> str:
    """"Baku time" for Asia/Baku, "Buenos Aires time"; "UTC+4" for Etc/GMT-4 (POSIX's
    sign turned round); another zone that names no place ("UTC") stays as it is."""
    if zone.startswith("Etc/GMT") and zone[7:8] in "+-" and zone[8:].isdigit():
        return f"UTC{'+' if zone[7] == '-' else '-'}{zone[8:]}"
    if not zone.startswith(_REGIONS):
        return zone
    return f"{_city(zone)} time"


def resolve_zone(value: object) -> str:
    """The IANA name for what a reader typed; ValueError with a sentence otherwise."""
    if not isinstance(value, str) or not value.strip() or len(value) > 64:
        raise ValueError(_NOT_A_ZONE)
    return _resolve_text(value)


# The offset the forms' labels end with: it changes with daylight saving, so a label
# from last season's page still names its place.
_LABEL_OFFSET = re.compile(r",\s*utc\s*[+\-−]\s*\d{1,2}:\d{2}$", re.IGNORECASE)


@lru_cache(maxsize=4096)  # an imported list repeats a few zones a million times
def _resolve_text(value: str) -> str:
    typed = " ".join(value.split())
    key = _LABEL_OFFSET.sub("", typed).lower()
    zone = _names().get(key) or _names().get(key.replace(" ", "_")) or _places().get(key) \
        or _fixed_offset(typed)
    if zone is None:
        raise ValueError(f"{typed!r} is not a time zone we know: type a city such as "
                         "Baku, or a name such as Asia/Baku")
    return zone


_OFFSET = re.compile(r"^(?:utc|gmt)?\s*([+\-−])\s*(\d{1,2})(?::?00)?$", re.IGNORECASE)


@lru_cache(maxsize=1)
def _places() -> dict[str, str]:
    """"baku (asia)" to Asia/Baku: the forms' labels without their offset."""
    return {_place(zone).lower(): zone for zone in _listed()}


def _place(zone: str) -> str:
    return f"{_city(zone)} ({zone.split('/', 1)[0]})"


def _fixed_offset(typed: str) -> str | None:
    """"UTC+4", "GMT+04:00", "+4": IANA's fixed-offset zone, whose sign is POSIX's,
    the other way round ("Etc/GMT-4" is four hours ahead). Whole hours only: that is
    all IANA has under Etc/."""
    found = _OFFSET.match(typed.strip())
    if found is None:
        return None
    hours = int(found.group(2))
    if hours == 0:
        return "UTC"
    ahead = found.group(1) == "+"
    name = f"Etc/GMT{'-' if ahead else '+'}{hours}"
    return name if name in _names().values() else None


@lru_cache(maxsize=1)
def _listed() -> tuple[str, ...]:
    """One zone per place: the system's zone.tab where it has one (it leaves out the
    aliases kept for old software, such as Australia/ACT), else every regional name."""
    known = available_timezones()
    for folder in TZPATH:
        table = Path(folder, "zone.tab")
        if table.is_file():
            rows = (line.split("\t") for line in table.read_text().splitlines()
                    if line and not line.startswith("#"))
            listed = {row[2].strip() for row in rows if len(row) > 2} & known
            if listed:
                return tuple(sorted(listed))
    return tuple(sorted(zone for zone in known if zone.startswith(_REGIONS)))


@lru_cache(maxsize=2)
def zone_choices(day: date) -> tuple[tuple[str, str], ...]:
    """(IANA name, "Baku (Asia), UTC+04:00") for each current zone, by city: what the
    forms' list offers, searchable by city, region or offset. Offsets are the day's."""
    noon = datetime.combine(day, time(12))
    choices = []
    for zone in _listed():
        offset = noon.replace(tzinfo=ZoneInfo(zone)).utcoffset()
        assert offset is not None
        minutes = int(offset.total_seconds()) // 60
        sign = "+" if minutes >= 0 else "-"
        hours, mins = divmod(abs(minutes), 60)
        choices.append((zone, f"{_place(zone)}, UTC{sign}{hours:02d}:{mins:02d}"))
    choices.append(("UTC", "UTC"))
    return tuple(sorted(choices, key=lambda choice: choice[1]))


def zone_label(zone: str, day: date) -> str:
    """What the time-zone field shows for a reader's zone: its label in the list
    ("Baku (Asia), UTC+04:00"), or the zone in words ("UTC+4") for one the list does not
    hold. Either resolves back to `zone`."""
    return _labelled(day).get(zone) or zone_in_words(zone)


@lru_cache(maxsize=2)
def _labelled(day: date) -> dict[str, str]:
    return dict(zone_choices(day))
