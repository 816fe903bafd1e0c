"""The hand-written MIME, held to the standard library's parser."""

from __future__ import annotations

import email
from collections.abc import Callable
from email import policy
from email.header import decode_header, make_header
from email.message import EmailMessage

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailer.sending.mime import (
    address_header,
    alternative,
    dot_stuff,
    fold,
    qp_value,
    seven_bit,
    short_lines,
)
from mailer.slots import SlotTemplate


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


# Any text a header may carry: every script, combining marks, emoji, controls other
# than line breaks (which `checked` refuses), spaces anywhere.
HEADER_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",),
                                             blacklist_characters="\r\n"), max_size=300)
PROPERTIES = settings(max_examples=400, deadline=None,
                      suppress_health_check=[HealthCheck.too_slow])


def _within_limits(raw: bytes) -> None:
    for line in raw.rstrip(b"\r\n").split(b"\r\n"):
        assert len(line) <= 998
        # 78 where a fold could get it there: only a single word longer than a line
        # may run past it, and never inside encoded words.
        assert len(line) <= 78 or (b"=?utf-8?" not in line and b" " not in line[1:].strip())


@PROPERTIES
@given(HEADER_TEXT)
def test_any_subject_survives_encoding_folding_and_parsing(value: str) -> None:
    raw = fold("Subject", value)
    _within_limits(raw)
    assert raw.isascii()
    parsed = email.message_from_bytes(raw + b"\r\n", policy=policy.default)
    assert str(parsed["Subject"]) == value
    unfolded = raw.decode()[len("Subject: "):].rstrip("\r\n").replace("\r\n", "")
    assert str(make_header(decode_header(unfolded))) == value


NAMES = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc"),
                                       blacklist_characters="<>"), min_size=1, max_size=120
                ).map(lambda s: " ".join(s.split())).filter(bool)


@PROPERTIES
@given(NAMES, st.booleans())
def test_any_display_name_survives(name: str, utf8: bool) -> None:
    """Encoded words are read by RFC 2047's rule (white space between them is not
    text); Python's address parser keeps that white space, so the phrase is checked
    with the standard library's RFC 2047 decoder and the address with the parser."""
    raw = address_header("From", name, "reader@example.org", utf8=utf8)
    _within_limits(raw)
    assert utf8 or raw.isascii()
    parsed = email.message_from_string((raw + b"\r\n").decode(), policy=policy.default)
    [address] = parsed["From"].addresses
    assert address.addr_spec == "reader@example.org"
    phrase = raw.decode()[len("From: "):].replace("\r\n", "").rpartition(" <")[0]
    if phrase.startswith('"'):
        assert address.display_name == name
    else:
        assert str(make_header(decode_header(phrase))) == name


def test_long_azerbaijani_subject_keeps_every_space() -> None:
    title = ("Prezident İlham Əliyev Şəki-Zaqatala bölgəsində yeni məktəblərin və "
             "xəstəxanaların açılışında iştirak edib, ölkəmizin gələcəyi haqqında danışıb")
    raw = fold("Subject", title)
    assert len(raw.split(b"\r\n")) > 2
    assert str(email.message_from_bytes(raw + b"\r\n", policy=policy.default)["Subject"]) \
        == title


def test_text_shaped_like_an_encoded_word_is_not_decoded_into_another_name() -> None:
    name = "=?utf-8?q?Bank_Security?="
    raw = address_header("From", f"{name} via TODAY.AZ", "news@today.az")
    assert b'"=?utf-8?q?' not in raw
    phrase = raw.decode()[len("From: "):].replace("\r\n", "").rpartition(" <")[0]
    assert str(make_header(decode_header(phrase))) == f"{name} via TODAY.AZ"
    subject = fold("Subject", name)
    assert str(email.message_from_bytes(subject + b"\r\n",
                                        policy=policy.default)["Subject"]) == name


@PROPERTIES
@given(st.text(max_size=2000), st.text(max_size=300))
def test_seven_bit_decodes_to_the_same_text(text: str, html: str) -> None:
    text = text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    html = html.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    message = b"Subject: x\r\n" + alternative(text, html)
    converted = seven_bit(message)
    assert converted.isascii()
    for raw in (message, converted):
        bare = raw.replace(b"\r\n", b"")
        assert b"\r" not in bare and b"\n" not in bare, "SMTP allows CRLF line ends only"

    def parts(raw: bytes) -> list[str]:
        msg = email.message_from_bytes(raw, policy=policy.default)
        return [p.get_content().replace("\r\n", "\n") for p in msg.walk()
                if not p.is_multipart()]

    assert parts(converted) == parts(message)


SLOT_NAMES = ("salutation", "unsubscribe_url", "preferences_url")


@PROPERTIES
@given(st.lists(st.text(max_size=200), min_size=1, max_size=5),
       st.fixed_dictionaries({n: st.text(max_size=120).filter(lambda v: "\r" not in v
                                                              and "\n" not in v)
                              for n in SLOT_NAMES}),
       st.lists(st.sampled_from(SLOT_NAMES), min_size=4, max_size=4))
def test_a_7bit_template_filled_reads_like_the_8bit_one_filled(
        literals: list[str], values: dict[str, str], names: list[str]) -> None:
    """Digests: the template is encoded to 7-bit once, each reader's values spliced in
    quoted-printable; that must decode to the 8bit template filled with the same values."""
    body = "".join(lit + f"%%slot:{names[i]}%%" for i, lit in enumerate(literals[:-1]))
    body += literals[-1]
    template = b"Subject: x\r\n" + alternative(body, f"<p>{body}</p>", encode_long=False)
    raw = {n.encode(): v.encode() for n, v in values.items()}

    def fill(data: bytes, encode: Callable[[bytes], bytes]) -> bytes:
        pieces = list(SlotTemplate.of(data).pieces)
        for i in range(1, len(pieces), 2):
            name = pieces[i]
            pieces[i] = encode(raw[name[3:]]) if name.startswith(b"qp_") else raw[name]
        return b"".join(pieces)

    eight = fill(template, lambda v: v)
    seven = fill(seven_bit(template, slots=True), qp_value)
    assert seven.isascii()
    body_lines = seven.split(b"\r\n\r\n", 1)[1].split(b"\r\n")
    assert all(len(line) <= 76 for line in body_lines)

    def parts(data: bytes) -> list[str]:
        msg = email.message_from_bytes(data, policy=policy.default)
        return [p.get_content().replace("\r\n", "\n") for p in msg.walk()
                if not p.is_multipart()]

    assert parts(seven) == parts(eight)
