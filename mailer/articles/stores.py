"""Where articles are kept: MemoryArticleStore (previews, tests) and SqlArticleStore
(the `articles` table)."""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import datetime
from typing import Protocol, cast

from sqlalchemy import Table, bindparam, select

from mailer.articles.model import SLUG_MAX, Article
from mailer.db import SessionFactory, transaction, upsert
from mailer.errors import UnknownArticle
from mailer.models import ArticleRow, utcnow
from mailer.slots import LruCache


class ArticleStore(Protocol):
    def get(self, article_id: str) -> Article: ...

    def check_known(self, article_id: str) -> None:
        """Raise UnknownArticle unless the article is stored: the share form's check,
        cheaper than loading it."""
        ...

    def put_many(self, articles: Iterable[Article]) -> int:
        """Insert or update; returns how many distinct articles were written (the last
        of several rows with one id wins)."""
        ...

    def all(self) -> list[Article]: ...


class MemoryArticleStore:
    """For previews and tests: lives and dies with the process."""

    def __init__(self, articles: Iterable[Article] = ()) -> None:
        self._articles: dict[str, Article] = {}
        self.put_many(articles)

    def check_known(self, article_id: str) -> None:
        self.get(article_id)

    def get(self, article_id: str) -> Article:
        try:
            return self._articles[article_id]
        except KeyError:
            raise UnknownArticle(article_id) from None

    def put_many(self, articles: Iterable[Article]) -> int:
        batch = {a.id: a for a in articles}
        self._articles.update(batch)
        return len(batch)

    def all(self) -> list[Article]:
        return sorted(self._articles.values(), key=lambda a: a.published, reverse=True)


KNOWN_SECONDS = 60.0
KNOWN_MAX = 10_000
PARSED_MAX = 256


class SqlArticleStore:
    """The `articles` table: shared by the API and every worker, so an import is seen
    everywhere at once. The article is kept whole as JSON beside the columns queries need."""

    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions
        table = cast(Table, ArticleRow.__table__)
        self._known = select(table.c.id).where(table.c.id == bindparam("article_id"))
        self._known_until: dict[str, float] = {}
        self._data = select(table.c.data).where(table.c.id == bindparam("article_id"))
        self._parsed: LruCache[str, Article] = LruCache(PARSED_MAX)

    def get(self, article_id: str) -> Article:
        """Read every time (an edit or a takedown counts at once), parsed only when its
        JSON is new to this process: a share worker reads the same few articles all
        day, and the ORM's load and pydantic's parse were a sixth of a delivery."""
        if len(article_id) > SLUG_MAX:
            raise UnknownArticle(article_id[:SLUG_MAX] + "…")
        with transaction(self._sessions) as session:
            data = session.execute(self._data, {"article_id": article_id}).scalar()
        if data is None:
            raise UnknownArticle(article_id)
        return self._parsed.get(data, lambda: Article.model_validate_json(data))

    def check_known(self, article_id: str) -> None:
        """An article found is taken as known for KNOWN_SECONDS in this process: a busy
        article is shared hundreds of times a minute, and articles are not taken back
        (if one were, the worker reads it again and records the share as failed). An
        unknown id is asked of the database every time, so a new article can be
        shared at once."""
        if len(article_id) > SLUG_MAX:
            raise UnknownArticle(article_id[:SLUG_MAX] + "…")
        now = time.monotonic()
        if self._known_until.get(article_id, 0.0) > now:
            return
        with transaction(self._sessions) as session:
            if session.execute(self._known, {"article_id": article_id}).first() is None:
                raise UnknownArticle(article_id)
        if len(self._known_until) >= KNOWN_MAX:
            self._known_until.clear()
        self._known_until[article_id] = now + KNOWN_SECONDS

    def put_many(self, articles: Iterable[Article]) -> int:
        batch = {a.id: a for a in articles}
        now = utcnow()
        rows = [{"id": a.id, "section": a.section, "published": a.published,
                 "data": a.model_dump_json(), "updated_at": now} for a in batch.values()]
        with transaction(self._sessions) as session:
            for start in range(0, len(rows), 500):
                upsert(session, ArticleRow, rows[start:start + 500], key=["id"],
                       update=["section", "published", "data", "updated_at"])
        return len(batch)

    def all(self) -> list[Article]:
        with transaction(self._sessions) as session:
            rows = session.scalars(select(ArticleRow).order_by(ArticleRow.published.desc()))
            return [Article.model_validate_json(row.data) for row in rows]

    def published_between(self, start: datetime, end: datetime) -> list[Article]:
        """Newest first; `start` included, `end` not."""
        with transaction(self._sessions) as session:
            rows = session.scalars(select(ArticleRow)
                                   .where(ArticleRow.published >= start)
                                   .where(ArticleRow.published < end)
                                   .order_by(ArticleRow.published.desc()))
            return [Article.model_validate_json(row.data) for row in rows]
