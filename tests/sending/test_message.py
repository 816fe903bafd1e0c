from __future__ import annotations

import email
from email import policy

import pytest

from mailer.articles.files import read_seed_articles
from mailer.config import ROOT, load_settings
from mailer.sending.message import Envelope
from mailer.services import make_renderer
from mailer.share.mail import build_share_envelope
from mailer.share.request import Address, ShareRequest, validate_share

ARTICLE = read_seed_articles(ROOT / "seeds")[0]
SETTINGS = load_settings()
RENDERER = make_renderer(SETTINGS)


def envelope(**changes: str) -> Envelope:
    data = {"article_id": ARTICLE.id, "sender_name": "Alice", "sender_email": "alice@example.com",
            "friend_name": "Bob", "friend_email": "bob@example.org", "message": "Hi Bob"}
    data.update(changes)
    share = validate_share(data)
    return build_share_envelope(RENDERER.render(ARTICLE, share), share, site_name="TODAY.AZ",
                                from_email="news@today.az", domain="www.today.az")


def parsed(env: Envelope) -> email.message.EmailMessage:
    return email.message_from_bytes(env.as_bytes(), policy=policy.default)  # type: ignore[return-value]


def test_headers() -> None:
    env = envelope()
    msg = parsed(env)
    assert msg["From"] == '"Alice via TODAY.AZ" <news@today.az>'
    assert msg["Reply-To"] == "Alice <alice@example.com>"
    assert msg["To"] == "Bob <bob@example.org>"
    assert msg["Subject"] == f"Recommended to you: {ARTICLE.title}"
    assert msg["Message-ID"].endswith("@www.today.az>")
    assert msg["Date"].datetime is not None
    assert (env.sender, env.recipient, env.smtputf8) == ("news@today.az", "bob@example.org",
                                                         False)


def test_never_from_the_readers_address() -> None:
    msg = parsed(envelope(sender_email="ceo@bank.example"))
    assert msg["From"].addresses[0].addr_spec == "news@today.az"
    assert msg["Sender"] is None


def test_multipart_alternative_text_then_html_utf8() -> None:
    msg = parsed(envelope(friend_name="Vüqar Əliyev"))
    assert msg.get_content_type() == "multipart/alternative"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert all(p.get_content_charset() == "utf-8" for p in parts)
    assert "Hello Vüqar Əliyev," in parts[0].get_content()
    assert "Hello Vüqar Əliyev," in parts[1].get_content()


def test_wire_format_uses_crlf_and_ascii_headers() -> None:
    raw = envelope(sender_name="Aysel Məmmədova").as_bytes()
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert b"\n" not in head.replace(b"\r\n", b"")
    head.decode("ascii")
    assert b"=?utf-8?" in head


def test_internationalised_address_needs_smtputf8() -> None:
    env = envelope(friend_email="vüqar@bücher.az")
    assert env.smtputf8
    assert "vüqar@bücher.az".encode() in env.as_bytes()


def test_builder_refuses_line_breaks_even_if_validation_were_bypassed() -> None:
    good = validate_share({"article_id": ARTICLE.id, "sender_name": "Alice",
                           "sender_email": "alice@example.com", "friend_name": "Bob",
                           "friend_email": "bob@example.org"})
    forged = ShareRequest(good.article_id, Address("Alice\r\nBcc: victim@example.net",
                                                   "alice@example.com", False), good.friend, "")
    with pytest.raises(ValueError):
        build_share_envelope(RENDERER.render(ARTICLE, good), forged, site_name="TODAY.AZ",
                             from_email="news@today.az", domain="www.today.az").as_bytes()


def test_long_names_fold_with_crlf_and_round_trip() -> None:
    name = "Aysel Məmmədova " * 6
    env = envelope(sender_name=name.strip(), friend_name=name.strip())
    raw = env.content()
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert b"\n" not in head.replace(b"\r\n", b""), "no bare line feed"
    assert max(len(line) for line in head.split(b"\r\n")) <= 998
    msg = parsed(env)
    # Word by word: the standard parser keeps the folding space between encoded words
    # (tests/sending/test_mime.py decodes them by RFC 2047 too).
    assert msg["To"].addresses[0].display_name.split() == name.split()
    assert msg["From"].addresses[0].display_name.split() == f"{name} via TODAY.AZ".split()
