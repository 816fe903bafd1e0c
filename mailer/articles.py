"""Articles: the model, loading from seed and import files, and where they are kept.

Stores: MemoryArticleStore (previews, tests) and SqlArticleStore (the `articles` table).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import unicodedata
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Protocol, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import Table, bindparam, select

from mailer.db import SessionFactory, transaction, upsert
from mailer.errors import InvalidInput, UnknownArticle
from mailer.models import ArticleRow, utcnow

SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
SLUG_MAX = 120
_TRANSLIT = str.maketrans({"ə": "e", "Ə": "e", "ı": "i", "İ": "i", "ß": "ss", "ø": "o", "ł": "l"})


def slugify(text: str) -> str:
    """A stable, ASCII, URL-safe id from a title (Azerbaijani letters folded by hand)."""
    folded = unicodedata.normalize("NFKD", text.translate(_TRANSLIT))
    ascii_text = folded.encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-")[:SLUG_MAX].rstrip("-")


class Article(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=SLUG_PATTERN, max_length=SLUG_MAX)
    title: str = Field(min_length=1, max_length=300)
    section: str = Field(min_length=1, max_length=60)
    published: datetime
    author: str | None = Field(None, max_length=200)
    source: str | None = Field(None, max_length=200)
    url: str = Field(pattern=r"^https?://\S+$", max_length=2000)
    lead: str = Field(min_length=1, max_length=2000)
    body: tuple[str, ...] = ()
    image_url: str | None = Field(None, pattern=r"^https?://\S+$", max_length=2000)

    @field_validator("published")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("must carry its time zone offset, e.g. 2020-10-28T18:15:00+04:00")
        return value

    @field_validator("title", "section", "author", "source")
    @classmethod
    def _one_line(cls, value: str | None) -> str | None:
        if value is not None and any(c in value for c in "\r\n"):
            raise ValueError("must be a single line")
        return value

    @property
    def version(self) -> str:
        """Changes whenever the content does; render caches key on it. Not cached on the
        instance: model_copy(update=...) would carry a stale value over."""
        return hashlib.blake2b(self.model_dump_json().encode(), digest_size=8).hexdigest()


def parse_article(data: object, where: str) -> Article:
    if isinstance(data, dict) and "id" not in data and isinstance(data.get("title"), str):
        data = {**data, "id": slugify(data["title"])}
    try:
        return Article.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "article"
        raise InvalidInput({where: f"{field}: {first['msg']}"}) from None


FEED_SUFFIXES = {".xml", ".rss", ".atom"}


def read_articles(path: Path, section: str | None = None) -> list[Article]:
    """Articles from a JSON file (one object or a list), a JSON Lines file (.jsonl), or
    an RSS/Atom feed (.xml, .rss, .atom; `section` for entries without a category)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput({"path": f"cannot read {path}: {exc.strerror}"}) from None
    except UnicodeDecodeError:
        raise InvalidInput({"path": f"{path} is not UTF-8 text"}) from None
    if path.suffix in FEED_SUFFIXES:
        from mailer.feeds import read_feed

        return read_feed(text, path.name, section)
    if path.suffix in {".jsonl", ".ndjson"}:
        rows = _json_lines(path, text)
        return [parse_article(item, f"{path.name}:{line}") for line, item in rows]
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput({"path": f"{path.name}:{exc.lineno}: not JSON ({exc.msg})"}) from None
    items = data if isinstance(data, list) else [data]
    return [parse_article(item, f"{path.name}[{i}]") for i, item in enumerate(items)]


def _json_lines(path: Path, text: str) -> Iterator[tuple[int, object]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidInput({"path": f"{path.name}:{number}: not JSON ({exc.msg})"}) from None


def read_seed_articles(seeds_dir: Path) -> list[Article]:
    files = sorted([*seeds_dir.glob("*.json"), *seeds_dir.glob("*.jsonl")])
    return [article for path in files for article in read_articles(path)]


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


class SqlArticleStore:
    """The `articles` table: shared by the API and every worker, so an import is seen
    everywhere at once. The article is kept whole as JSON beside the columns queries need."""

    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions
        table = cast(Table, ArticleRow.__table__)
        self._known = select(table.c.id).where(table.c.id == bindparam("article_id"))
        self._known_until: dict[str, float] = {}

    def get(self, article_id: str) -> Article:
        if len(article_id) > SLUG_MAX:
            raise UnknownArticle(article_id[:SLUG_MAX] + "…")
        with transaction(self._sessions) as session:
            row = session.get(ArticleRow, article_id)
            if row is None:
                raise UnknownArticle(article_id)
            return Article.model_validate_json(row.data)

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
