"""Reading articles from files: JSON, JSON Lines, and RSS/Atom feeds; the seeds we ship."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from mailer.articles.feeds import read_feed
from mailer.articles.model import Article, parse_article
from mailer.errors import InvalidInput

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
