"""What the forms offer: the newsletters, read from their table at most every few
seconds (every page with the sign-up form shows them), with the sections each covers."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from mailer.errors import ServiceUnavailable
from mailer.newsletters.model import DAILY, Newsletter
from mailer.subscriptions.model import Preferences, SectionCatalog, newsletter_field

REFRESH_SECONDS = 10.0


class NewsletterOffer:
    def __init__(self, read: Callable[[], tuple[Newsletter, ...]], catalog: SectionCatalog,
                 refresh_seconds: float = REFRESH_SECONDS, quiet: str = "22:00–07:00") -> None:
        """`read`: the newsletters as they are now (NewsletterStore.list); `quiet`: the
        alerts' quiet hours, as the forms say them."""
        self._read = read
        self.catalog = catalog
        self.quiet = quiet
        self._refresh = refresh_seconds
        self._lock = threading.Lock()
        self._cached: tuple[Newsletter, ...] | None = None
        self._read_at = 0.0

    def all(self) -> tuple[Newsletter, ...]:
        """In form order. With the database away, what was read last, if anything."""
        with self._lock:
            if self._cached is None or time.monotonic() - self._read_at >= self._refresh:
                try:
                    self._cached = self._read()
                    self._read_at = time.monotonic()
                except ServiceUnavailable:
                    if self._cached is None:
                        raise
            return self._cached

    def others(self) -> dict[str, tuple[str, ...]]:
        """Each newsletter besides the daily digest, with the sections it covers: what
        a reader's choices are checked against."""
        return {n.slug: n.offers(self.catalog) for n in self.all() if n.slug != DAILY}

    def describe(self, chosen: Preferences) -> list[str]:
        """A reader's choices in words, one line a newsletter, in form order:
        "Daily digest, every day at 07:00 (Asia/Baku): Politics, Economy"."""
        lines = []
        for newsletter in self.all():
            sections = chosen.chosen(newsletter.slug)
            if sections:
                labels = ", ".join(name for slug, name in self.catalog.names.items()
                                   if slug in sections)
                lines.append(f"{newsletter.name}, "
                             f"{newsletter.when_at(chosen.hour, chosen.timezone)}: {labels}")
        return lines

    def find(self, slug: str) -> Newsletter | None:
        return next((n for n in self.all() if n.slug == slug), None)

    def fields(self) -> list[tuple[str, str]]:
        """Each newsletter's form field and label, in form order (for error summaries)."""
        return [(newsletter_field(n.slug), n.name) for n in self.all()]

    @staticmethod
    def field(slug: str) -> str:
        """A newsletter's form field, for the templates."""
        return newsletter_field(slug)

    def forget(self) -> None:
        """Read the table again next time (after an operator's change here)."""
        with self._lock:
            self._cached = None
