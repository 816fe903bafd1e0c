"""Time zones as readers type them: offsets included."""

from __future__ import annotations

import pytest

from mailer.subscriptions.zones import resolve_zone


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
