"""How an edition reads: stories grouped by section in the site's order, the top story
first, an intro that counts, a subject that fits a phone. Pure functions of the
articles, shared by the e-mail and its web version."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from mailer.articles.model import Article, slugify
from mailer.subscriptions.model import SectionCatalog

SUBJECT_MAX = 70  # what a phone's inbox shows of a subject, about


@dataclass(frozen=True)
class SectionGroup:
    label: str
    articles: tuple[Article, ...]
    more: bool = False  # the top story's own section: headed "More in Politics"

    @property
    def heading(self) -> str:
        """Not "POLITICS" twice in a row under the top story of Politics."""
        return f"More in {self.label}" if self.more else self.label


@dataclass(frozen=True)
class Edition:
    """One variant's stories, arranged: `groups` hold every story but the top one."""

    top: Article
    groups: tuple[SectionGroup, ...]
    count: int
    section_labels: tuple[str, ...]  # the sections that have stories, in order


def arrange(articles: Sequence[Article], catalog: SectionCatalog) -> Edition:
    """Sections in the catalog's order (any other section after them, alphabetically),
    newest first within each; the top story is the newest of the first section."""
    order = {slug: index for index, slug in enumerate(catalog.names)}
    by_section: dict[str, list[Article]] = {}
    for article in sorted(articles, key=lambda a: (a.published, a.id), reverse=True):
        by_section.setdefault(slugify(article.section), []).append(article)
    slugs = sorted(by_section, key=lambda s: (order.get(s, len(order)), s))
    labels = tuple(catalog.names.get(s, by_section[s][0].section) for s in slugs)
    top = by_section[slugs[0]][0]
    groups = tuple(SectionGroup(label, tuple(a for a in by_section[slug] if a is not top),
                                more=slug == slugs[0])
                   for slug, label in zip(slugs, labels, strict=True))
    return Edition(top, tuple(g for g in groups if g.articles), len(articles), labels)


def greeting(hour: int, name: str) -> str:
    """By the hour the reader chose for their digest, in their own zone: "Good evening,
    Leyla," for a 19:00 reader; "Hello," in the small hours, when "good morning" would
    be a stretch."""
    part = ("Good morning" if 5 <= hour < 12 else "Good afternoon" if 12 <= hour < 18
            else "Good evening" if 18 <= hour < 23 else "Hello")
    return f"{part}, {name}," if name else f"{part},"


def intro_sections(labels: Sequence[str]) -> str:
    """"Politics", "Politics and Economy", "Politics, Economy and World"; past three, a
    list would crowd out the news: "Politics, Economy and 4 other sections"."""
    if len(labels) == 1:
        return labels[0]
    if len(labels) > 3:
        return f"{labels[0]}, {labels[1]} and {len(labels) - 2} other sections"
    return f"{', '.join(labels[:-1])} and {labels[-1]}"


def span_label(last: date, days: int = 1, *, short: bool = False) -> str:
    """"28 October 2026"; a week: "22–28 October 2026", "29 November – 5 December
    2026"; `short` leaves out the year ("28 October", "week to 5 December")."""
    if days == 1:
        return f"{last.day} {last:%B}" if short else f"{last.day} {last:%B %Y}"
    if short:
        return f"week to {last.day} {last:%B}" if days == 7 else \
            f"{days} days to {last.day} {last:%B}"
    first = last - timedelta(days=days - 1)
    if (first.year, first.month) == (last.year, last.month):
        return f"{first.day}–{last.day} {last:%B %Y}"
    start = f"{first.day} {first:%B}" + (f" {first.year}" if first.year != last.year else "")
    return f"{start} – {last.day} {last:%B %Y}"


def subject(site_name: str, when: str, edition: Edition) -> str:
    """Brand and date first, so a phone that cuts the rest still says whose and when:
    "TODAY.AZ, 28 October: Non-Aligned Movement support … + 2 more"."""
    head = f"{site_name}, {when}: "
    tail = f" + {edition.count - 1} more" if edition.count > 1 else ""
    room = max(SUBJECT_MAX - len(head) - len(tail), 12)
    title = edition.top.title
    if len(title) > room and len(title) <= room + len(tail):
        return f"{head}{title}"  # the whole headline says more than "+ 2 more"
    return f"{head}{cut_at_word(title, room)}{tail}"


def cut_at_word(title: str, room: int) -> str:
    """`title` in `room` characters: whole, or cut after a word that does not leave
    the phrase hanging ("support to Azerbaijan over…" reads as a cut phrase), with "…"."""
    if len(title) <= room:
        return title
    words = title[:room - 1].split(" ")
    if len(words) > 1:
        words.pop()  # cut in the middle of it, or it just fits: it goes either way
    while len(words) > 1 and words[-1].strip(",;:-–—").lower() in _DANGLING:
        words.pop()
    return " ".join(words).rstrip(" ,;:-–—") + "…"


def alert_subject(label: str, title: str) -> str:
    """"Breaking news: Azerbaijan and …": what it is first, then the story, cut at a
    word to fit a phone."""
    head = f"{label}: "
    return head + cut_at_word(title, SUBJECT_MAX - len(head))


# Words a cut headline should not end on: it would stop mid-phrase.
_DANGLING = frozenset({
    "a", "an", "the", "of", "to", "in", "on", "at", "for", "over", "and", "or", "but",
    "with", "by", "from", "as", "into", "about", "after", "before", "than", "amid",
    "against"})
