"""The `newsletters` table's one owner. Removing a newsletter removes readers' choices
in it with it (the database's ON DELETE CASCADE on `subscriptions`)."""

from __future__ import annotations

from sqlalchemy import func, select

from mailer.db import SessionFactory, transaction
from mailer.errors import InvalidInput, NotFound
from mailer.models import NewsletterRow, SubscriptionRow, utcnow
from mailer.newsletters.model import DAILY, Cadence, Newsletter


def _newsletter(row: NewsletterRow) -> Newsletter:
    return Newsletter(slug=row.slug, name=row.name, cadence=Cadence(row.cadence),
                      sections=tuple(s for s in row.sections.split(",") if s),
                      weekday=row.weekday, sender_name=row.sender_name,
                      template=row.template, position=row.position)


def _write(row: NewsletterRow, newsletter: Newsletter) -> None:
    row.name = newsletter.name
    row.cadence = newsletter.cadence.value
    row.sections = ",".join(newsletter.sections)
    row.weekday = newsletter.weekday
    row.sender_name = newsletter.sender_name
    row.template = newsletter.template
    row.position = newsletter.position
    row.updated_at = utcnow()


class NewsletterStore:
    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    def list(self) -> tuple[Newsletter, ...]:
        """In the order the forms show them."""
        with transaction(self._sessions) as session:
            rows = session.scalars(select(NewsletterRow)
                                   .order_by(NewsletterRow.position, NewsletterRow.slug))
            return tuple(_newsletter(row) for row in rows)

    def get(self, slug: str) -> Newsletter:
        with transaction(self._sessions) as session:
            row = session.get(NewsletterRow, slug)
            if row is None:
                raise NotFound(f"no newsletter {slug[:40]!r} (`mailer newsletters list` "
                               "shows them)")
            return _newsletter(row)

    def add(self, newsletter: Newsletter) -> Newsletter:
        with transaction(self._sessions) as session:
            if session.get(NewsletterRow, newsletter.slug) is not None:
                raise InvalidInput({"slug": f"{newsletter.slug!r} exists already; change "
                                            "it instead"})
            row = NewsletterRow(slug=newsletter.slug)
            _write(row, newsletter)
            session.add(row)
        return newsletter

    def update(self, newsletter: Newsletter) -> Newsletter:
        with transaction(self._sessions) as session:
            row = session.get(NewsletterRow, newsletter.slug, with_for_update=True)
            if row is None:
                raise NotFound(f"no newsletter {newsletter.slug[:40]!r}")
            _write(row, newsletter)
        return newsletter

    def remove(self, slug: str) -> int:
        """How many readers' choices went with it."""
        if slug == DAILY:
            raise InvalidInput({"slug": "the daily digest cannot be removed (a reader "
                                        "leaves it by choosing none of its sections)"})
        with transaction(self._sessions) as session:
            row = session.get(NewsletterRow, slug, with_for_update=True)
            if row is None:
                raise NotFound(f"no newsletter {slug[:40]!r}")
            readers = session.scalar(select(func.count()).select_from(SubscriptionRow)
                                     .where(SubscriptionRow.newsletter == slug)) or 0
            session.delete(row)
            return int(readers)
