"""What an operator may say a newsletter is, and the words a reader sees beside it."""

from __future__ import annotations

import pytest

from mailer.errors import InvalidInput
from mailer.newsletters.model import (
    DAILY,
    Cadence,
    Newsletter,
    default_newsletters,
    validate_newsletter,
)
from mailer.subscriptions.model import SectionCatalog

CATALOG = SectionCatalog(["Politics", "Economy", "Culture"])


def errors_of(data: dict[str, object], existing: Newsletter | None = None) -> dict[str, str]:
    with pytest.raises(InvalidInput) as caught:
        validate_newsletter(data, CATALOG, existing=existing)
    return caught.value.errors


@pytest.mark.parametrize("weekday", ["Friday", "fri", " FRIDAY ", 4])
def test_a_weekly_newsletter_names_its_day_as_people_write_it(weekday: object) -> None:
    found = validate_newsletter({"slug": "economy-weekly", "name": "Economy  weekly",
                                 "cadence": "Weekly", "weekday": weekday,
                                 "sections": "economy"}, CATALOG)
    assert found == Newsletter("economy-weekly", "Economy weekly", Cadence.WEEKLY,
                               ("economy",), weekday=4)
    assert found.when == "every Friday, at your hour"


def test_each_bad_field_is_named_with_what_would_do() -> None:
    errors = errors_of({"slug": "Politics!", "name": "x" * 81, "cadence": "hourly",
                        "weekday": "Caturday", "sections": ["Weather"],
                        "sender_name": "News\r\nBcc: all@example.org", "position": -1})
    assert set(errors) == {"slug", "name", "cadence", "weekday", "sections", "sender_name",
                           "position"}
    assert "lower-case letters" in errors["slug"]
    assert "unknown section 'Weather'" in errors["sections"]
    assert "one line" in errors["sender_name"], "a header injection is refused"


def test_a_weekly_newsletter_needs_its_day_and_a_daily_one_drops_it() -> None:
    assert "weekday" in errors_of({"slug": "w", "name": "W", "cadence": "weekly"})
    daily = validate_newsletter({"slug": "d", "name": "D", "cadence": "daily",
                                 "weekday": "Monday"}, CATALOG)
    assert daily.weekday is None


def test_the_daily_digest_stays_daily_and_cannot_be_added_twice() -> None:
    daily = default_newsletters()[0]
    assert daily.slug == DAILY
    assert errors_of({"cadence": "weekly", "weekday": "Monday"}, existing=daily) == {
        "cadence": "the daily digest stays daily"}
    assert "always exists" in errors_of({"slug": "daily", "name": "Another"})["slug"]
    renamed = validate_newsletter({"name": "Morning briefing"}, CATALOG, existing=daily)
    assert (renamed.slug, renamed.name, renamed.cadence) == (DAILY, "Morning briefing",
                                                             Cadence.DAILY)


def test_a_slug_is_for_good() -> None:
    weekly = default_newsletters()[1]
    assert "cannot be changed" in errors_of({"slug": "sunday"}, existing=weekly)["slug"]


def test_an_immediate_newsletter_sends_alerts_and_only_it_does() -> None:
    politics = validate_newsletter({"slug": "politics-now", "name": "Politics now",
                                    "cadence": "immediate", "sections": "politics"}, CATALOG)
    assert (politics.template, politics.when) == ("alert", "as it happens")
    assert "only an immediate one" in errors_of({"slug": "d", "name": "D", "cadence": "daily",
                                                 "template": "alert"})["template"]


def test_no_sections_means_every_section() -> None:
    weekly = validate_newsletter({"slug": "w", "name": "W", "cadence": "weekly",
                                  "weekday": 6, "sections": "all"}, CATALOG)
    assert weekly.sections == ()
    assert weekly.offers(CATALOG) == ("culture", "economy", "politics")
