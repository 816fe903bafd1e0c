"""RSS and Atom feeds to articles, through feedparser."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import feedparser

from mailer.articles.model import Article, parse_article, slugify
from mailer.errors import InvalidInput

_BLOCKS = {"p", "div", "br", "li", "h1", "h2", "h3", "h4", "blockquote", "tr"}


class _Text(HTMLParser):
    """Feed summaries are HTML; our e-mails want plain paragraphs (escaped again later)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.paragraphs: list[str] = []
        self._current: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in {"script", "style"}:
            self._skip += 1
        elif tag in _BLOCKS:
            self._flush()

    def handle_endtag(self, tag: str) -> None:
        if tag in {"script", "style"}:
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCKS:
            self._flush()

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self._current.append(data)

    def _flush(self) -> None:
        text = " ".join("".join(self._current).split())
        if text:
            self.paragraphs.append(text)
        self._current = []

    def close(self) -> None:
        super().close()
        self._flush()


def html_paragraphs(fragment: str) -> list[str]:
    parser = _Text()
    parser.feed(fragment)
    parser.close()
    return parser.paragraphs


def stable_id(link: str, title: str) -> str:
    """From the link's path (stable when an editor fixes a title), else from the title."""
    path = urlsplit(link).path
    path = re.sub(r"\.(html?|php|aspx?)$", "", path)
    return slugify(path) or slugify(title)


def read_feed(text: str, name: str, default_section: str | None = None) -> list[Article]:
    parsed = feedparser.parse(text)
    if not parsed.entries:
        reason = getattr(parsed, "bozo_exception", None) or "no entries"
        raise InvalidInput({"path": f"{name}: not an RSS or Atom feed with entries ({reason})"})
    source = parsed.feed.get("title")
    articles = []
    for index, entry in enumerate(parsed.entries, start=1):
        where = f"{name} entry {index}"
        when = entry.get("published_parsed") or entry.get("updated_parsed")
        tags = entry.get("tags") or []
        section = (tags[0].get("term") if tags else None) or default_section
        if section is None:
            raise InvalidInput({where: "no category: pass --section for this feed"})
        content = entry.get("content") or []
        body = html_paragraphs(content[0].get("value", "")) if content else []
        lead = html_paragraphs(entry.get("summary", "")) or body[:1]
        title = " ".join(str(entry.get("title", "")).split())
        link = str(entry.get("link", ""))
        articles.append(parse_article({
            "id": stable_id(link, title),
            "title": title,
            "section": section.strip(),
            "published": datetime(*when[:6]).replace(tzinfo=UTC).isoformat() if when else None,
            "author": entry.get("author"),
            "source": source,
            "url": link,
            "lead": " ".join(lead) if lead else title,
            "body": body or lead,
        }, where))
    return articles
