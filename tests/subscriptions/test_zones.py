"""Time zones as readers type them: offsets and the forms' own labels included."""

from __future__ import annotations

from datetime import date

import pytest

from mailer.subscriptions.zones import resolve_zone, zone_choices, zone_label


@pytest.mark.parametrize(("typed", "zone"), [
    ("UTC+4", "Etc/GMT-4"), ("utc +4", "Etc/GMT-4"), ("GMT+04:00", "Etc/GMT-4"),
    ("+4", "Etc/GMT-4"), ("UTC-5", "Etc/GMT+5"), ("UTC−5", "Etc/GMT+5"), ("UTC+0", "UTC")])
def test_an_offset_as_people_write_it_is_a_fixed_zone(typed: str, zone: str) -> None:
    assert resolve_zone(typed) == zone  # IANA's Etc/ signs are POSIX's: the other way


@pytest.mark.parametrize("typed", ["UTC+15", "UTC+4:30", "UTC*4", "4"])
def test_an_offset_iana_has_no_zone_for_is_refused_with_the_fix(typed: str) -> None:
    with pytest.raises(ValueError, match="type a city such as Baku"):
        resolve_zone(typed)


def test_a_fixed_zone_is_said_as_its_offset() -> None:
    from mailer.subscriptions.zones import zone_in_words

    assert zone_in_words("Etc/GMT-4") == "UTC+4" and zone_in_words("Etc/GMT+5") == "UTC-5"
    assert zone_in_words("Asia/Baku") == "Baku time" and zone_in_words("UTC") == "UTC"


def test_every_label_the_forms_show_names_its_zone_again() -> None:
    """The field shows a reader's zone by its label; posting the form sends the label
    back, today's or another season's (the offset moves with daylight saving)."""
    for day in (date(2026, 1, 15), date(2026, 7, 15)):
        choices = zone_choices(day)
        assert len(choices) > 300
        for zone, label in choices:
            assert zone_label(zone, day) == label
            assert resolve_zone(label) == zone, label
            assert resolve_zone(label.rsplit(", UTC", 1)[0]) == zone, label
    assert zone_label("Asia/Baku", date(2026, 7, 15)) == "Baku (Asia), UTC+04:00"
    assert resolve_zone("London (Europe), UTC+01:00") == "Europe/London"
    for zone in ("Etc/GMT-4", "US/Eastern"):  # not in the list: said so it resolves back
        assert resolve_zone(zone_label(zone, date(2026, 7, 15))) == zone
