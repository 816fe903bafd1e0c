from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from mailer.articles.files import read_articles, read_seed_articles
from mailer.articles.model import Article, slugify
from mailer.articles.stores import ArticleStore, MemoryArticleStore, SqlArticleStore
from mailer.config import ROOT
from mailer.errors import InvalidInput, UnknownArticle
from tests.conftest import BACKENDS, backend_sessions

SEED_ID = "non-aligned-movement-support-to-azerbaijan-over-karabakh-significant"


def make_article(article_id: str = "a-story", **changes: object) -> Article:
    data: dict[str, object] = {
        "id": article_id, "title": "A story", "section": "Politics",
        "published": "2020-10-28T18:15:00+04:00", "url": "https://www.today.az/a-story.html",
        "lead": "The lead.", "body": ["The lead.", "More."],
    }
    data.update(changes)
    return Article.model_validate(data)


def test_seed_article_is_the_shared_page_as_data() -> None:
    [article] = read_seed_articles(ROOT / "seeds")
    assert article.id == SEED_ID
    assert article.title == "Non-Aligned Movement support to Azerbaijan over Karabakh significant"
    assert article.section == "Politics"
    assert article.published.utcoffset() == timedelta(hours=4)
    assert (article.author, article.source) == ("Vafa Ismayilova", "Azernews")
    assert article.lead.startswith("As part of its international integration")
    assert len(article.body) == 11
    assert article.body[-1].endswith("to remove them from our lands,” he said.")


def test_slugify_folds_azerbaijani_letters() -> None:
    assert slugify("Vüqar Əliyev: İlham's visit to Şəki!") == "vuqar-eliyev-ilham-s-visit-to-seki"


def test_published_time_must_carry_its_zone() -> None:
    with pytest.raises(ValueError, match="time zone offset"):
        make_article(published="2020-10-28T18:15:00")


def test_read_json_lines_with_derived_ids(tmp_path: Path) -> None:
    path = tmp_path / "feed.jsonl"
    rows = [make_article().model_dump(mode="json"), make_article("b").model_dump(mode="json")]
    del rows[0]["id"]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n", encoding="utf-8")
    assert [a.id for a in read_articles(path)] == ["a-story", "b"]


@pytest.mark.parametrize(("name", "content", "message"), [
    ("bad.jsonl", '{"title": "x"}\nnot json\n', "bad.jsonl:1: section: Field required"),
    ("bad2.jsonl", '\n{"id": "ok"\n', "bad2.jsonl:2: not JSON"),
    ("bad.json", "[1, 2", "bad.json:1: not JSON"),
    ("bad3.json", '[{"id": "Not A Slug", "title": "t"}]', "bad3.json[0]: id:"),
])
def test_read_errors_say_where(tmp_path: Path, name: str, content: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InvalidInput) as info:
        read_articles(path)
    assert message in str(info.value)


def test_missing_file_is_invalid_input(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="cannot read"):
        read_articles(tmp_path / "nope.json")


@pytest.fixture(params=["memory", *BACKENDS])
def store(request: pytest.FixtureRequest) -> Iterator[ArticleStore]:
    if request.param == "memory":
        yield MemoryArticleStore()
    else:
        for sessions in backend_sessions(request, request.param):
            yield SqlArticleStore(sessions)


class TestArticleStoreContract:
    def test_unknown_article(self, store: ArticleStore) -> None:
        with pytest.raises(UnknownArticle, match="unknown article 'nope'"):
            store.get("nope")

    def test_put_then_get(self, store: ArticleStore) -> None:
        assert store.put_many([make_article("one"), make_article("two")]) == 2
        assert store.get("two") == make_article("two")

    def test_reimport_updates_without_duplicating(self, store: ArticleStore) -> None:
        assert store.put_many([make_article("one"), make_article("one", lead="Later.")]) == 1
        assert store.get("one").lead == "Later."
        store.put_many([make_article("one", title="Updated")])
        assert store.get("one").title == "Updated"
        assert [a.id for a in store.all()] == ["one"]

    def test_published_time_survives_with_its_instant(self, store: ArticleStore) -> None:
        store.put_many([make_article("one")])
        assert store.get("one").published == make_article().published

    def test_all_is_newest_first(self, store: ArticleStore) -> None:
        store.put_many([make_article("old", published="2020-01-01T00:00:00+00:00"),
                        make_article("new", published="2021-01-01T00:00:00+00:00")])
        assert [a.id for a in store.all()] == ["new", "old"]


def test_version_changes_with_content() -> None:
    assert make_article().version == make_article().version
    assert make_article().version != make_article(lead="Other lead.").version
