"""The web version of a digest ("View in your browser"), on a real database."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest
from fastapi.testclient import TestClient

from mailer import services
from mailer.articles.model import Article
from mailer.config import Settings
from mailer.digest.plan import Variant
from mailer.services import make_digest_mail
from mailer.subscriptions.model import Preferences, Subscriber, SubscriberStatus

EDITION = date(2026, 11, 26)
VARIANT = Variant(EDITION, "Asia/Baku", ("economy", "politics"))


def story(article_id: str, section: str, hour: int) -> Article:
    return Article.model_validate({
        "id": article_id, "title": f"Story {article_id}", "section": section,
        "published": f"2026-11-26T{hour:02d}:00:00+04:00", "lead": f"Lead of {article_id}.",
        "url": f"https://www.today.az/{article_id}.html"})


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    settings = make_settings()
    services.stores(settings, seed=False).articles.put_many(
        [story("p1", "Politics", 9), story("e1", "Economy", 10), story("s1", "Sports", 11)])
    return settings


def test_the_emails_link_opens_the_same_stories_without_personal_data(
        client: TestClient, settings: Settings) -> None:
    mail = make_digest_mail(settings)
    articles = [story("p1", "Politics", 9), story("e1", "Economy", 10)]
    template = mail.template(VARIANT, articles)
    reader = Subscriber("sub1", "leyla@example.com", "Leyla", Preferences(
        VARIANT.sections, VARIANT.timezone, 7), SubscriberStatus.ACTIVE, EDITION, None, None)
    message = mail.envelope(template, reader, b"date").content().decode()
    link = mail.web_url(VARIANT)
    assert link.replace("&", "&amp;") in message and "View in your browser" in message
    page = client.get(link.removeprefix(settings.public_url))
    assert page.status_code == 200
    assert "Story p1" in page.text and "Story e1" in page.text
    assert "Story s1" not in page.text, "only the variant's sections"
    for personal in ("Leyla", "/unsubscribe/", "/preferences/", "View in your browser",
                     "Good morning", 'class="greeting"'):
        assert personal not in page.text
    assert "Good morning, Leyla," in message
    assert "Get the digest by e-mail every morning" in page.text


@pytest.mark.parametrize("query", ["/digest/2026-13-01", "/digest/26-11-2026",
                                   "/digest/2026-11-26?zone=Mars/Olympus",
                                   "/digest/2026-11-26?sections=astrology"])
def test_a_malformed_link_is_a_page_saying_so(client: TestClient, query: str) -> None:
    page = client.get(query, headers={"Accept": "text/html"})
    assert page.status_code == 400 and "This digest link is not valid" in page.text


def test_a_day_without_stories_is_a_404_page(client: TestClient) -> None:
    page = client.get("/digest/2026-11-20?zone=Asia/Baku")
    assert page.status_code == 404 and "no stories from 20 November 2026" in page.text
