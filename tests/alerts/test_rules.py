"""Quiet hours read in each reader's own zone, across midnight and without any."""

from __future__ import annotations

from datetime import UTC, datetime

from mailer.alerts.rules import QuietHours, local_midnight

NOON_UTC = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def test_quiet_hours_across_midnight_in_the_readers_zone() -> None:
    night = QuietHours.parse("22-7")
    assert not night.at(NOON_UTC, "Asia/Baku")  # 16:00
    assert night.at(NOON_UTC, "Pacific/Auckland")  # 01:00 the next day
    assert night.at(NOON_UTC, "America/Los_Angeles")  # 04:00
    assert not night.at(NOON_UTC, "America/New_York")  # 07:00: the night is over
    assert night.label == "22:00–07:00"


def test_a_span_within_one_day_and_none_at_all() -> None:
    assert QuietHours.parse("9-17").at(NOON_UTC, "UTC")
    assert not QuietHours.parse("9-17").at(NOON_UTC, "Pacific/Auckland")  # 01:00
    assert not any(QuietHours.parse("0-0").at(NOON_UTC, zone)
                   for zone in ("UTC", "Asia/Baku", "Pacific/Auckland"))


def test_the_cap_counts_from_midnight_in_the_readers_zone() -> None:
    assert local_midnight(NOON_UTC, "Pacific/Auckland").isoformat() == \
        "2026-12-05T00:00:00+13:00"
    assert local_midnight(NOON_UTC, "America/Los_Angeles").isoformat() == \
        "2026-12-04T00:00:00-08:00"
