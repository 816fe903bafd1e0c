"""Digest messages and batch sending: real database, real SMTP server, no Celery."""

from __future__ import annotations

import email
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from email import policy
from email.message import EmailMessage

import pytest
from sqlalchemy import select, update

from mailer.articles import Article
from mailer.config import Settings
from mailer.digest import ArticleDays, Variant
from mailer.digest_mail import DigestSender
from mailer.ledger import JobStatus
from mailer.models import DeliveryRow
from mailer.services import (
    Stores,
    make_digest_mail,
    make_planner,
    make_smtp_backend,
    make_tokens,
    open_stores,
    retry_policy,
)
from mailer.subscribers import Preferences, SignUp, Status, Subscriber
from mailer.tokens import Purpose
from tests.support.smtp import RecordingHandler
from worker.producer import CeleryJobQueue

EDITION = date(2026, 11, 26)
NOW = datetime(2026, 11, 27, 3, 30, tzinfo=UTC)  # 07:30 in Baku


def article(article_id: str, published: str, section: str = "Politics") -> Article:
    return Article.model_validate({
        "id": article_id, "title": f"Story {article_id}", "section": section,
        "published": published, "url": f"https://www.today.az/{article_id}.html",
        "lead": f"Lead of {article_id} & more."})


ARTICLES = [article("early", "2026-11-26T08:00:00+04:00"),
            article("late", "2026-11-26T21:00:00+04:00")]


def subscriber(name: str = "Leyla <Q>", email_: str = "leyla@example.com") -> Subscriber:
    return Subscriber("sub1", email_, name, Preferences(("politics",), "Asia/Baku", 7),
                      Status.ACTIVE, NOW, None, NOW)


def parse(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=policy.SMTPUTF8)
    assert isinstance(msg, EmailMessage)
    return msg


def test_message_is_well_formed_with_bulk_headers(make_settings: Callable[..., Settings]
                                                  ) -> None:
    settings = make_settings(public_url="https://news.today.az")
    mail = make_digest_mail(settings)
    variant = Variant(EDITION, "Asia/Baku", ("politics",))
    template = mail.template(variant, ARTICLES[::-1])
    raw = mail.envelope(template, subscriber(), b"Fri, 27 Nov 2026 03:30:00 +0000").content()
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    msg = parse(raw)
    assert msg.defects == [] and all(not part.defects for part in msg.walk())
    assert msg["Subject"] == "Story late and 1 more | TODAY.AZ digest, 26 November"
    assert msg["To"] == '"Leyla <Q>" <leyla@example.com>'
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg["Precedence"] == "bulk"
    assert msg["List-Id"] == "TODAY.AZ daily digest <digest.www.today.az>"
    https, mailto = [v.strip(" <>") for v in msg["List-Unsubscribe"].split(",")]
    assert https.startswith("https://news.today.az/unsubscribe/")
    assert mailto.startswith("mailto:unsubscribe@today.az?subject=unsubscribe%20")
    tokens = make_tokens(settings)
    assert tokens.read(Purpose.UNSUBSCRIBE, https.rsplit("/", 1)[1]) == "sub1"
    text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "Good morning, Leyla <Q>," in text
    assert "Good morning, Leyla &lt;Q&gt;," in html
    assert text.index("Story late") < text.index("Story early"), "newest first"
    assert "Lead of late &amp; more." in html and "Lead of late & more." in text
    assert https in html and https in text
    prefs = tokens.read(Purpose.PREFERENCES, html.split("/preferences/")[1].split('"')[0])
    assert prefs == "sub1"
    assert "<style" not in html


def test_variant_is_rendered_once_for_many_recipients(make_settings: Callable[..., Settings]
                                                      ) -> None:
    mail = make_digest_mail(make_settings())
    variant = Variant(EDITION, "Asia/Baku", ("politics",))
    for i in range(20):
        template = mail.template(variant, ARTICLES)
        mail.envelope(template, subscriber(f"Reader {i}", f"r{i}@example.com"), b"date")
    assert mail.compilations == 1
    corrected = [ARTICLES[0].model_copy(update={"title": "Corrected"}), ARTICLES[1]]
    assert mail.template(variant, corrected).subject.startswith("Corrected and 1 more")
    assert mail.compilations == 2, "a corrected article is a new render"


def test_internationalised_recipient(make_settings: Callable[..., Settings]) -> None:
    mail = make_digest_mail(make_settings())
    template = mail.template(Variant(EDITION, "Asia/Baku", ("politics",)), ARTICLES)
    envelope = mail.envelope(template, subscriber("Vüqar Əliyev", "vüqar@bücher.az"), b"d")
    assert envelope.smtputf8
    assert parse(envelope.content())["To"] == "Vüqar Əliyev <vüqar@bücher.az>"


@pytest.fixture
def planned(make_settings: Callable[..., Settings], redis_client: object
            ) -> tuple[Settings, Stores, list[str]]:
    """Three active Baku subscribers with edition 26 November planned for them."""
    settings = make_settings(share_max_attempts=2)
    stores = open_stores(settings, seed=False)
    stores.articles.put_many(ARTICLES)
    for i in range(3):
        stores.subscribers.add_active(SignUp(f"reader{i}@example.org", f"Reader {i}",
                                             Preferences(("politics",), "Asia/Baku", 7)))
    queue = CeleryJobQueue(settings)
    assert make_planner(settings, stores, queue).plan(datetime.now(UTC), EDITION).planned == 3
    queue.close()
    with stores.sessions.begin() as session:
        ids = list(session.scalars(select(DeliveryRow.id).where(DeliveryRow.kind == "digest")))
    return settings, stores, ids


def sender_for(settings: Settings, stores: Stores) -> DigestSender:
    return DigestSender(ledger=stores.ledger, subscribers=stores.subscribers,
                        days=ArticleDays(stores.articles), mail=make_digest_mail(settings),
                        backend=make_smtp_backend(settings), retry=retry_policy(settings),
                        lease_seconds=60)


def statuses(stores: Stores) -> dict[str, str]:
    with stores.sessions.begin() as session:
        return {r.recipient: r.status for r in session.scalars(select(DeliveryRow))}


def test_batch_sends_each_once_even_when_delivered_again(
        planned: tuple[Settings, Stores, list[str]], smtp: RecordingHandler) -> None:
    settings, stores, ids = planned
    sender = sender_for(settings, stores)
    outcome = sender.send_batch(ids)
    assert (outcome.sent, outcome.failed, outcome.skipped, outcome.deferred) == (3, 0, 0, [])
    again = sender.send_batch(ids)  # a redelivered batch
    assert (again.sent, again.skipped) == (0, 0)
    assert sorted(r.rcpt_tos[0] for r in smtp.received) == [
        f"reader{i}@example.org" for i in range(3)]
    assert set(statuses(stores).values()) == {"sent"}


def test_batch_skips_the_unsubscribed_and_defers_or_fails_by_reply(
        planned: tuple[Settings, Stores, list[str]], smtp: RecordingHandler) -> None:
    settings, stores, ids = planned
    gone = stores.subscribers.find("reader0@example.org")
    assert gone is not None
    stores.subscribers.unsubscribe(gone.id)
    smtp.script("reader1@example.org", "451 4.7.1 later", "451 4.7.1 later")
    smtp.script("reader2@example.org", "550 5.1.1 no such user")
    sender = sender_for(settings, stores)
    first = sender.send_batch(ids)
    assert (first.sent, first.failed, first.skipped) == (0, 1, 1)
    assert len(first.deferred) == 1 and first.retry_in > 0
    second = sender.send_batch(first.deferred)
    assert (second.sent, second.failed, second.deferred) == (0, 1, []), "attempts exhausted"
    assert statuses(stores) == {"reader0@example.org": "skipped",
                                "reader1@example.org": "failed",
                                "reader2@example.org": "failed"}
    assert smtp.received == []


def test_digest_past_its_window_is_expired_not_sent(
        planned: tuple[Settings, Stores, list[str]], smtp: RecordingHandler) -> None:
    settings, stores, ids = planned
    with stores.sessions.begin() as session:
        session.execute(update(DeliveryRow).values(
            expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    outcome = sender_for(settings, stores).send_batch(ids)
    assert (outcome.sent, outcome.failed, outcome.skipped) == (0, 0, 0)
    assert set(statuses(stores).values()) == {JobStatus.EXPIRED.value}
    assert smtp.received == []
