"""Digest messages and batch sending: real database, real SMTP server, no Celery."""

from __future__ import annotations

import email
from collections.abc import Callable
from datetime import UTC, date, datetime
from email import policy
from email.message import EmailMessage

from mailer.articles.model import Article
from mailer.config import Settings
from mailer.digest.plan import Variant
from mailer.services import make_digest_mail, make_tokens
from mailer.subscriptions.model import Preferences, Subscriber, SubscriberStatus
from mailer.tokens import Purpose

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
                      SubscriberStatus.ACTIVE, NOW, None, NOW)


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
    assert msg["Subject"] == "TODAY.AZ, 26 November: Story late + 1 more"
    assert "from TODAY.AZ on Thursday, 26 November 2026" in msg.get_body(
        ("plain",)).get_content(), "the day's edition names its weekday"
    assert msg["To"] == '"Leyla <Q>" <leyla@example.com>'
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg["Precedence"] == "bulk"
    assert msg["List-Id"] == '"TODAY.AZ daily digest" <digest.www.today.az>'
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
    assert html.count("<style") == 1 and "prefers-color-scheme: dark" in html, \
        "only the media rules stay in a style block (tests/share/test_render.py)"


def test_variant_is_rendered_once_for_many_recipients(make_settings: Callable[..., Settings]
                                                      ) -> None:
    mail = make_digest_mail(make_settings())
    variant = Variant(EDITION, "Asia/Baku", ("politics",))
    for i in range(20):
        template = mail.template(variant, ARTICLES)
        mail.envelope(template, subscriber(f"Reader {i}", f"r{i}@example.com"), b"date")
    assert mail.compilations == 1
    corrected = [ARTICLES[0], ARTICLES[1].model_copy(update={"title": "Corrected"})]
    assert mail.template(variant, corrected).subject.endswith(": Corrected + 1 more")
    assert mail.compilations == 2, "a corrected article is a new render"


def test_internationalised_recipient(make_settings: Callable[..., Settings]) -> None:
    mail = make_digest_mail(make_settings())
    template = mail.template(Variant(EDITION, "Asia/Baku", ("politics",)), ARTICLES)
    envelope = mail.envelope(template, subscriber("Vüqar Əliyev", "vüqar@bücher.az"), b"d")
    assert envelope.smtputf8
    assert parse(envelope.content())["To"] == "Vüqar Əliyev <vüqar@bücher.az>"


def test_a_non_ascii_title_makes_an_encoded_subject(make_settings: Callable[..., Settings]
                                                     ) -> None:
    mail = make_digest_mail(make_settings())
    titled = [ARTICLES[0],
              ARTICLES[1].model_copy(update={"title": "Qarabağda yeni yol açıldı"})]
    template = mail.template(Variant(EDITION, "Asia/Baku", ("politics",)), titled)
    raw = mail.envelope(template, subscriber("Leyla", "leyla@example.com"), b"d").content()
    raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    assert parse(raw)["Subject"] == "TODAY.AZ, 26 November: Qarabağda yeni yol açıldı + 1 more"


def test_the_7bit_template_reads_exactly_like_the_8bit_one(
        make_settings: Callable[..., Settings]) -> None:
    """For relays without 8BITMIME each variant is also encoded once to 7-bit, with the
    per-reader values spliced in quoted-printable: the same text, and no per-message
    re-encoding."""
    mail = make_digest_mail(make_settings())
    template = mail.template(Variant(EDITION, "Asia/Baku", ("politics",)), ARTICLES)
    for name, address in (("Ləman Əliyeva-Şirinova", "leman@example.org"), ("", "x@y.org"),
                          ("." * 200, "dots@example.org"), ("O'Neil = 100%", "o@example.org")):
        envelope = mail.envelope(template, subscriber(name, address),
                                 b"Thu, 27 Nov 2026 07:00:00 +0400")
        seven = envelope.as_7bit()
        assert seven.isascii()
        assert max(len(line) for line in seven.split(b"\r\n")) <= 998
        unstuffed = seven.replace(b"\r\n..", b"\r\n.")  # SMTP's dot-stuffing is not MIME's
        assert all(len(line) <= 76 for line in unstuffed.split(b"\r\n\r\n", 1)[1].split(b"\r\n")
                   if not line.startswith(b"--=_digest"))
        eight, converted = parse(envelope.content()), parse(seven.replace(b"\r\n..", b"\r\n."))
        assert [str(eight[h]) for h in ("To", "Subject", "List-Unsubscribe")] == \
            [str(converted[h]) for h in ("To", "Subject", "List-Unsubscribe")]
        texts = [[p.get_content().replace("\r\n", "\n") for p in m.walk()
                  if not p.is_multipart()] for m in (eight, converted)]
        assert texts[0] == texts[1]
        assert name in texts[1][0]
