"""Articles: the model the CMS, the seed files and the feeds all come down to."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mailer.errors import InvalidInput

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


def breaking_of(data: object, where: str) -> tuple[object, bool]:
    """A CMS's article item without its `breaking` mark, and the mark: the story is
    news to alert readers of, not part of the article itself."""
    if not isinstance(data, dict) or "breaking" not in data:
        return data, False
    mark = data["breaking"]
    if not isinstance(mark, bool):
        raise InvalidInput({where: "breaking: must be true or false"})
    return {k: v for k, v in data.items() if k != "breaking"}, mark


def parse_article(data: object, where: str) -> Article:
    if isinstance(data, dict) and "id" not in data and isinstance(data.get("title"), str):
        data = {**data, "id": slugify(data["title"])}
    try:
        return Article.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "article"
        raise InvalidInput({where: f"{field}: {first['msg']}"}) from None
