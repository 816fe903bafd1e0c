"""DKIM's relaxed canonicalisation, held to dkimpy's; and a template's body hash, made
from the values alone, held to the hash of the message the template and values make."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import dkim
import pytest
from dkim.canonicalization import Relaxed
from hypothesis import given, settings
from hypothesis import strategies as st

from mailer.config import Settings
from mailer.digest.plan import Variant
from mailer.sending.canonical import RelaxedBody, relaxed_body, relaxed_headers
from mailer.sending.mime import dot_stuff, undot
from mailer.services import make_digest_mail
from mailer.slots import SlotTemplate
from tests.digest.test_compose import ARTICLES, EDITION, subscriber

# What canonicalisation and dot-stuffing read: white space, line ends (bare ones too),
# dots, and a letter that none of them reads.
PARTS = [b"a", b" ", b"\t", b"  ", b"\r\n", b"\r", b"\n", b".", b"\r\n.", b"\r\n..",
         b"\r\n\r\n", b" \r\n", b"\t\r\n"]
text = st.lists(st.sampled_from(PARTS), max_size=12).map(b"".join)


@pytest.mark.parametrize("body", [
    b"", b"\r\n", b"a  b\t\tc \r\n\r\n\r\n", b"line \t\r\n  indented\r\nlast", b" x \r\n",
    b"a \r\n \r\n", b"a\r\nb \t\r\n", b"tab\there\r\n\t\r\n", b"<p>one two</p>\r\n  <p>x</p>\r\n",
    b"last line \t", b"\t\t  ", b"a\n\n", b"a\r\n\r\n\n", b"\r\n\r\n", b" "])
def test_body_canonicalisation_matches_dkimpy(body: bytes) -> None:
    assert relaxed_body(body) == Relaxed.canonicalize_body(body)


@settings(max_examples=500)
@given(text)
def test_any_body_canonicalises_as_dkimpy_does(body: bytes) -> None:
    assert relaxed_body(body) == Relaxed.canonicalize_body(body)


def test_header_canonicalisation_matches_dkimpy() -> None:
    block = (b"Subject:  Hello \t world  \r\n folded\there\r\nTO: a@b.example\r\n"
             b"X-Empty:\r\nList-Unsubscribe: <https://x.example/u>,\r\n\t<mailto:u@x>")
    headers, _ = dkim.rfc822_parse(block + b"\r\n\r\nbody")
    expected = [(name, value.rstrip(b"\r\n"))
                for name, value in Relaxed.canonicalize_headers(headers)]
    assert relaxed_headers(block) == expected
    assert relaxed_headers(block, {b"to", b"subject"}) == [expected[0], expected[1]]


def message_template(pieces: list[bytes]) -> bytes:
    """Headers with a slot, then a body of `pieces` with a slot between each two."""
    body = b"".join(piece + b"%%slot:v" + bytes([97 + i]) + b"%%"
                    for i, piece in enumerate(pieces[:-1])) + pieces[-1]
    return b"From: a@example.org\r\n%%slot:to%%Subject: s\r\n\r\n" + body


@settings(max_examples=1000)
@given(st.lists(text, min_size=1, max_size=6), st.data(), st.booleans())
def test_a_templates_body_hash_is_the_messages(pieces: list[bytes], data: st.DataObject,
                                               dotted: bool) -> None:
    """Whatever the literal pieces and the values (white space, line ends and dots on
    either side of a slot), the hash from the values is the filled message's, as the
    reader gets it (un-stuffed); a template whose body ends in special bytes only is
    refused, and an offset that does not match the message says so."""
    pieces = [b"x" + pieces[0], *pieces[1:-1], pieces[-1] + b"z"] if len(pieces) > 1 \
        else [b"x" + pieces[0] + b"z"]
    document = message_template(pieces)
    template = SlotTemplate.of(dot_stuff(document) if dotted else document)
    made = RelaxedBody.of(template, dotted=dotted)
    assert made is not None
    values = {name: data.draw(text) for name in template.names}
    values[b"to"] = data.draw(st.sampled_from([b"To: b@example.org\r\n", b"", b"\r\n"]))
    message = template.fill(values)
    start, digest = made.digest(values)
    if start != message.find(b"\r\n\r\n") + 4:
        assert values[b"to"] == b"\r\n"  # a blank line before the template's own
        return
    reader = undot(message) if dotted else message
    body = reader.partition(b"\r\n\r\n")[2]
    assert digest == hashlib.sha256(Relaxed.canonicalize_body(body)).digest()


def test_templates_it_cannot_take() -> None:
    """Nothing to cut at beside a slot at the body's start or end, or a slot in the
    blank line that ends the headers: the signer hashes the message itself."""
    for document in (b"From: a\r\n\r\n%%slot:a%%x", b"From: a\r\n\r\nx%%slot:a%% \r\n",
                     b"From: a\r\n%%slot:a%%\r\nx"):
        assert RelaxedBody.of(SlotTemplate.of(document), dotted=False) is None
    plain = RelaxedBody.of(SlotTemplate.of(b"From: a\r\n\r\nx \r\n\r\n"), dotted=False)
    assert plain is not None
    assert plain.digest({}) == (11, hashlib.sha256(b"x\r\n").digest())


@pytest.mark.parametrize("name", ["Leyla", "Leyla  Q\t", "  ", ".", "Aysel Məmmədova " * 6])
def test_a_digests_body_hash_is_its_messages(
        name: str, make_settings: Callable[..., Settings]) -> None:
    mail = make_digest_mail(make_settings())
    template = mail.template(Variant(EDITION, "Asia/Baku", ("politics",)), ARTICLES)
    assert template.relaxed_body is not None
    for address in ("reader@example.org", "rəşad@example.org"):
        envelope = mail.envelope(template, subscriber(name, address),
                                 b"Thu, 27 Nov 2026 07:00:00 +0400")
        assert envelope.relaxed_body_hash is not None
        data = envelope.content()
        split = data.find(b"\r\n\r\n") + 4
        assert envelope.relaxed_body_hash() == (
            split, hashlib.sha256(Relaxed.canonicalize_body(data[split:])).digest())
