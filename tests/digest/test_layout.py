"""How an edition reads: grouping, top story, intro and subject."""

from __future__ import annotations

from datetime import date

import pytest

from mailer.articles.model import Article
from mailer.digest.layout import (
    SUBJECT_MAX,
    arrange,
    greeting,
    intro_sections,
    span_label,
    subject,
)
from mailer.subscriptions.model import SectionCatalog

CATALOG = SectionCatalog(["Politics", "Economy", "Society", "World", "Culture", "Sports"])
DAY = date(2020, 10, 28)


WHEN = "28 October"  # span_label(DAY, short=True)


def story(article_id: str, section: str, hour: int, title: str = "") -> Article:
    return Article.model_validate({
        "id": article_id, "title": title or f"Story {article_id}", "section": section,
        "published": f"2020-10-28T{hour:02d}:00:00+04:00", "lead": "A lead.",
        "url": f"https://www.today.az/{article_id}.html"})


def test_sections_in_the_sites_order_newest_first_top_story_apart() -> None:
    edition = arrange([story("s1", "Sports", 20), story("e1", "Economy", 9),
                       story("p1", "Politics", 8), story("e2", "Economy", 18),
                       story("p2", "Politics", 12), story("x1", "Weather", 7)], CATALOG)
    assert edition.top.id == "p2", "the newest story of the first section"
    assert [(g.label, [a.id for a in g.articles]) for g in edition.groups] == [
        ("Politics", ["p1"]), ("Economy", ["e2", "e1"]), ("Sports", ["s1"]),
        ("Weather", ["x1"])]
    assert edition.count == 6
    assert edition.section_labels == ("Politics", "Economy", "Sports", "Weather")


def test_a_section_with_only_the_top_story_leaves_no_empty_group() -> None:
    edition = arrange([story("p1", "Politics", 8), story("w1", "World", 9)], CATALOG)
    assert [g.label for g in edition.groups] == ["World"]


def test_intro_names_the_sections_that_have_stories() -> None:
    assert intro_sections(["Politics"]) == "Politics"
    assert intro_sections(["Politics", "Economy"]) == "Politics and Economy"
    assert intro_sections(["Politics", "Economy", "World"]) == "Politics, Economy and World"
    assert intro_sections(["Politics", "Economy", "Society", "World", "Culture", "Sports"]) \
        == "Politics, Economy and 4 other sections", "never all six"


def test_subject_starts_with_brand_and_date_and_fits_a_phone() -> None:
    long_title = ("Non-Aligned Movement support to Azerbaijan over Karabakh significant, "
                  "says Hikmat Hajiyev")
    edition = arrange([story("p1", "Politics", 9, long_title), story("e1", "Economy", 10),
                       story("e2", "Economy", 11)], CATALOG)
    found = subject("TODAY.AZ", WHEN, edition)
    assert found.startswith("TODAY.AZ, 28 October: Non-Aligned Movement support")
    assert found.endswith("… + 2 more")
    assert 60 <= len(found) <= SUBJECT_MAX
    one = arrange([story("p1", "Politics", 9, "Short news")], CATALOG)
    assert subject("TODAY.AZ", WHEN, one) == "TODAY.AZ, 28 October: Short news"


@pytest.mark.parametrize(("hour", "name", "expected"), [
    (7, "Leyla", "Good morning, Leyla,"), (12, "", "Good afternoon,"),
    (19, "Vüqar", "Good evening, Vüqar,"), (23, "Leyla", "Hello, Leyla,"),
    (3, "", "Hello,"), (5, "", "Good morning,")])
def test_the_greeting_follows_the_hour_the_reader_chose(hour: int, name: str,
                                                        expected: str) -> None:
    assert greeting(hour, name) == expected


def test_a_cut_headline_ends_on_a_word_that_carries_meaning() -> None:
    seed = "Non-Aligned Movement support to Azerbaijan over Karabakh significant"
    three = arrange([story("p1", "Politics", 9, seed), story("e1", "Economy", 10),
                     story("e2", "Economy", 11)], CATALOG)
    found = subject("TODAY.AZ", WHEN, three)
    # Room for 39 characters: "…support to Azerba" would be cut mid-word, and
    # "…support to" mid-phrase.
    assert found == "TODAY.AZ, 28 October: Non-Aligned Movement support… + 2 more"
    longer = arrange([story("p1", "Politics", 9, seed + " for the region"),
                      story("e1", "Economy", 10)], CATALOG)
    assert not subject("TODAY.AZ", WHEN, longer).removesuffix("… + 1 more").endswith(
        tuple(f" {w}" for w in ("to", "over", "for", "the")))


def test_a_headline_that_fits_without_the_count_is_given_whole() -> None:
    title = "Non-Aligned Movement backs Azerbaijan's stance"  # 46: room 39 + " + 1 more"
    two = arrange([story("p1", "Politics", 9, title), story("e1", "Economy", 10)], CATALOG)
    assert subject("TODAY.AZ", WHEN, two) == f"TODAY.AZ, 28 October: {title}"


def test_a_span_reads_as_people_write_dates() -> None:
    assert span_label(date(2026, 10, 28)) == "28 October 2026"
    assert span_label(date(2026, 10, 28), 7) == "22–28 October 2026"
    assert span_label(date(2026, 12, 5), 7) == "29 November – 5 December 2026"
    assert span_label(date(2027, 1, 2), 7) == "27 December 2026 – 2 January 2027"
    assert span_label(date(2026, 12, 5), 7, short=True) == "week to 5 December"


def test_the_top_storys_section_is_not_headed_twice_in_a_row() -> None:
    edition = arrange([story("p1", "Politics", 9), story("p2", "Politics", 8),
                       story("e1", "Economy", 10)], CATALOG)
    assert edition.top.id == "p1"
    assert [g.heading for g in edition.groups] == ["More in Politics", "Economy"]
