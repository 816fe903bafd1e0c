"""The hand-written MIME, held to the standard library's parser."""

from __future__ import annotations

import email
from email import policy
from email.header import decode_header, make_header
from email.message import EmailMessage

import pytest

from mailer.mime import address_header, alternative, dot_stuff, fold, short_lines


def parse(head: bytes, body: bytes = b"") -> EmailMessage:
    msg = email.message_from_bytes(head + body, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


@pytest.mark.parametrize("name", ["Bob", 'Bob "the builder" \\ Jr.', "Vüqar Əliyev",
                                  "Aysel Məmmədova " * 6, ""])
def test_address_header_round_trips(name: str) -> None:
    line = address_header("To", name.strip(), "bob@example.org")
    assert line.endswith(b"\r\n") and b"\n" not in line.replace(b"\r\n", b"")
    line.decode("ascii")
    address = parse(line + b"\r\n")["To"].addresses[0]
    assert address.addr_spec == "bob@example.org"
    # The standard parser keeps the folding white space between two encoded words of
    # a display name, which RFC 2047 6.2 drops: compare the words, and decode the
    # raw value by the RFC as well.
    assert address.display_name.split() == name.split()
    raw = line.decode()[4:].rsplit(" <", 1)[0] if name else ""
    by_rfc = str(make_header(decode_header(raw.replace("\r\n", "")))) if raw else ""
    assert by_rfc.strip('"').replace('\\"', '"').replace("\\\\", "\\") == name.strip()


def test_utf8_header_carries_the_address_as_it_is() -> None:
    line = address_header("To", "Vüqar", "vüqar@bücher.az", utf8=True)
    assert line == 'To: "Vüqar" <vüqar@bücher.az>\r\n'.encode()
    msg = email.message_from_string((line + b"\r\n").decode(), policy=policy.SMTPUTF8)
    assert msg["To"].addresses[0].addr_spec == "vüqar@bücher.az"


@pytest.mark.parametrize("bad", [("Bob\r\nBcc: x@example.net", "bob@example.org"),
                                 ("Bob", "bob@example.org\nBcc: x@example.net")])
def test_line_breaks_are_refused(bad: tuple[str, str]) -> None:
    with pytest.raises(ValueError):
        address_header("To", *bad)
    with pytest.raises(ValueError):
        fold("Subject", "\n".join(bad))


@pytest.mark.parametrize("subject", ["word " * 40, "Vüqar Əliyev", "Əliyev, Vüqar " * 12,
                                     "Short"])
def test_subject_folds_under_78_and_round_trips(subject: str) -> None:
    line = fold("Subject", subject.strip())
    line.decode("ascii")
    assert all(len(part) <= 78 for part in line.split(b"\r\n"))
    assert parse(line + b"\r\n")["Subject"] == subject.strip()


def test_alternative_parses_into_text_then_html() -> None:
    html = "<p>" + "<b>x</b>" * 300 + "</p>"
    msg = parse(b"Subject: t\r\n", alternative("Hello Vüqar\n.dot\n", html))
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert parts[0].get_content().replace("\r\n", "\n") == "Hello Vüqar\n.dot"
    assert parts[1].get_content().replace("\r\n", "") == html
    assert all(len(line) < 998 for line in alternative("t", html).split(b"\r\n"))


def test_short_lines_breaks_only_between_tags() -> None:
    text = short_lines("<a>" * 500, limit=100)
    assert text.replace("\r\n", "") == "<a>" * 500
    assert max(len(line) for line in text.split("\r\n")) <= 100


def test_dot_stuffing() -> None:
    assert dot_stuff(b"a\r\n.b\r\n..c\r\n") == b"a\r\n..b\r\n...c\r\n"


def test_a_long_paragraph_breaks_at_spaces_within_998_octets() -> None:
    paragraph = "Qarabağ " * 400  # 3,600 octets, two-octet letters among them
    body = alternative(paragraph, f"<p>{paragraph}</p>")
    assert b"quoted-printable" not in body
    assert max(len(line) for line in body.split(b"\r\n")) <= 998
    parts = list(parse(b"Subject: t\r\n", body).iter_parts())
    assert parts[0].get_content().split() == paragraph.split()


def test_a_run_no_break_can_shorten_goes_quoted_printable_and_round_trips() -> None:
    url = "https://www.today.az/r?" + "x" * 2000
    html = f'<a href="{url}">Read</a>'
    body = alternative("Read: " + url, html)
    assert body.count(b"Content-Transfer-Encoding: quoted-printable") == 2
    assert max(len(line) for line in body.split(b"\r\n")) <= 998
    parts = list(parse(b"Subject: t\r\n", body).iter_parts())
    assert parts[0].get_content() == "Read: " + url
    assert parts[1].get_content() == html


def test_a_template_splits_the_run_instead() -> None:
    body = alternative("x" * 2000, "<p>" + "é" * 1000 + "</p>", encode_long=False)
    assert b"quoted-printable" not in body
    assert max(len(line) for line in body.split(b"\r\n")) <= 998
    body.decode("utf-8")  # never split inside a character
