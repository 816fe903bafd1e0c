"""The share form's fields as readers type them, hostile ones included."""

from __future__ import annotations

import pytest

from mailer.errors import InvalidInput
from mailer.share.request import NOTE_MAX, SHARE_FIELDS, validate_share

ARTICLE = "non-aligned-movement-support-to-azerbaijan-over-karabakh-significant"

SENTENCE = " (if you meant the end of a sentence, put a space after the full stop)"


def form(**changes: object) -> dict[str, object]:
    data: dict[str, object] = {
        "article_id": ARTICLE, "sender_name": "Aysel Məmmədova",
        "sender_email": "aysel@example.com", "friend_name": "Vüqar Əliyev",
        "friend_email": "vuqar@example.org", "message": "Read this.",
    }
    data.update(changes)
    return data


def errors_of(data: dict[str, object]) -> dict[str, str]:
    with pytest.raises(InvalidInput) as info:
        validate_share(data)
    return info.value.errors


def test_valid_request_is_normalised() -> None:
    share = validate_share(form(sender_name="  Aysel   Məmmədova ",
                                friend_email="Vuqar@EXAMPLE.org",
                                message="  line one\r\nline two  "))
    assert share.sender.name == "Aysel Məmmədova"
    assert share.friend.email == "Vuqar@example.org"
    assert share.note == "line one\nline two"
    assert not share.friend.smtputf8


def test_message_is_optional() -> None:
    data = form()
    del data["message"]
    assert validate_share(data).note == ""


def test_internationalised_address_and_name() -> None:
    share = validate_share(form(friend_name="Vüqar Əliyev", friend_email="vüqar@bücher.az"))
    assert share.friend.email == "vüqar@bücher.az"
    assert share.friend.smtputf8
    assert str(share.friend.header()) == "Vüqar Əliyev <vüqar@bücher.az>"


def test_ascii_local_part_with_unicode_domain_is_sent_as_idna() -> None:
    share = validate_share(form(friend_email="vuqar@bücher.az"))
    assert share.friend.email == "vuqar@xn--bcher-kva.az"
    assert not share.friend.smtputf8


@pytest.mark.parametrize(("field", "value", "message"), [
    ("article_id", "", "is required"),
    ("article_id", "../etc/passwd",
     "is not an article id (lower-case letters, digits and hyphens)"),
    ("sender_name", "", "is required"),
    ("sender_name", "   ", "is required"),
    ("sender_name", "x" * 101, "is longer than 100 characters"),
    ("sender_name", "Bob <bob@evil.example>", "must not contain the characters < and >"),
    ("friend_name", "Bob\x00", "must not contain control characters"),
    ("sender_email", "not-an-address", "An email address must have an @-sign."),
    ("friend_email", "a@b", "The part after the @-sign is not valid. It should have a period."),
    ("friend_email", "x" * 250 + "@example.com", "is longer than 254 characters"),
    ("friend_email", "two@example.com, three@example.com",
     "one friend per share: give a single address"),
    ("friend_email", "two@example.com;three@example.com",
     "one friend per share: give a single address"),
    ("sender_name", "Visit https://spam.example", "must be a name, without links, web or "
     "e-mail addresses"),
    ("friend_name", "cheap-pills.com", "must be a name, without links, web or e-mail "
     "addresses"),
    ("sender_name", "www.casino", "must be a name, without links, web or e-mail addresses"),
    ("message", "Look: http://x.example/a", "must not contain links, web or e-mail "
     "addresses: the article's own link is in the e-mail already" + SENTENCE),
    ("message", "write to deals@spam.example", "must not contain links, web or e-mail "
     "addresses: the article's own link is in the e-mail already" + SENTENCE),
    ("message", "go to SPAM.RU now", "must not contain links, web or e-mail addresses: the "
     "article's own link is in the e-mail already" + SENTENCE),
    ("website", "http://bot.example", "must be left empty"),
    ("message", "x" * (NOTE_MAX + 1), "is longer than 500 characters"),
    ("message", "bell\x07", "must not contain control characters"),
    ("sender_email", 42, "must be a string"),
    ("message", ["a"], "must be a string"),
    # Links however disguised: any TLD, look-alike dots, invisible characters, IPs.
    ("message", "all on news.today now", "must not contain links, web or e-mail addresses: "
     "the article's own link is in the e-mail already" + SENTENCE),
    ("message", "see example\uff0ecom", "must not contain links, web or e-mail addresses: "
     "the article's own link is in the e-mail already" + SENTENCE),
    ("message", "see example\u3002com", "must not contain links, web or e-mail addresses: "
     "the article's own link is in the e-mail already" + SENTENCE),
    ("message", "win at casino\u00b7bet", "must not contain links, web or e-mail addresses: "
     "the article's own link is in the e-mail already" + SENTENCE),
    ("message", "write to me\uff20evil\uff0eexample", "must not contain links, web or e-mail "
     "addresses: the article's own link is in the e-mail already" + SENTENCE),
    ("message", "see 203.0.113.9 for more", "must not contain links, web or e-mail "
     "addresses: the article's own link is in the e-mail already" + SENTENCE),
    ("message", "\uff48\uff54\uff54\uff50://x", "must not contain links, web or e-mail "
     "addresses: the article's own link is in the e-mail already" + SENTENCE),
    ("friend_name", "Bob bit\u2024ly", "must be a name, without links, web or e-mail "
     "addresses"),
    ("sender_name", "пример.рф", "must be a name, without links, web or e-mail addresses"),
    ("sender_name", "TODAY.AZ", "must be a name, without links, web or e-mail addresses"),
    ("sender_name", "exa\u200bmple.com", "contains invisible formatting characters (such as "
     "a zero-width space): please type it again without them"),
    ("message", "free\u00admoney", "contains invisible formatting characters (such as a "
     "zero-width space): please type it again without them"),
    # Reversed text and names mail readers would decode into something else.
    ("sender_name", "Aysel \u202egnp.exe", "contains invisible characters that change the "
     "direction of the text: please type it again without them"),
    ("message", "ok \u2067hidden\u2069", "contains invisible characters that change the "
     "direction of the text: please type it again without them"),
    ("sender_name", "=?utf-8?b?QmFuaw==?=", "must be a name, not text like =?utf-8?…?= (which "
     "mail programs would read as a different name)"),
    # Not valid Unicode at all.
    ("sender_name", "Ay\ud800sel", "contains characters that are not valid text (invalid "
     "Unicode): please type it again"),
    ("message", "hi \ufdd0", "contains characters that are not valid text (invalid "
     "Unicode): please type it again"),
    # RFC 5321: 64 octets before the @, counted in bytes.
    ("friend_email", "a" * 65 + "@example.org", "has more than 64 characters (bytes) before "
     "the @-sign, more than mail servers accept"),
])
def test_each_invalid_field_has_a_precise_message(field: str, value: object,
                                                  message: str) -> None:
    assert errors_of(form(**{field: value})) == {field: message}


@pytest.mark.parametrize("field", [f for f in SHARE_FIELDS if f != "message"])
@pytest.mark.parametrize("payload", [
    "x\r\nBcc: victim@example.net", "x\nBcc: victim@example.net", "x\rSubject: spam",
    "x\u2028Bcc: victim@example.net",
])
def test_header_injection_is_refused_in_every_header_field(field: str, payload: str) -> None:
    value = payload if field != "sender_email" and field != "friend_email" else \
        "a@example.com" + payload.removeprefix("x")
    errors = errors_of(form(**{field: value}))
    assert list(errors) == [field]


def test_note_may_span_lines_but_stays_text() -> None:
    share = validate_share(form(message="<script>alert(1)</script>\nBcc: a friend, 3 p.m."))
    assert share.note == "<script>alert(1)</script>\nBcc: a friend, 3 p.m."


@pytest.mark.parametrize("name", ["J.R.R. Tolkien", "Dr. Aysel Məmmədova", "O'Brien-Smith",
                                  "Mr.Smith", "St. John"])
def test_ordinary_names_pass(name: str) -> None:
    assert validate_share(form(sender_name=name)).sender.name == name


def test_every_problem_is_reported_at_once() -> None:
    assert set(errors_of({"article_id": "x"})) == {"sender_name", "sender_email", "friend_name",
                                                   "friend_email"}


def test_as_fields_round_trips() -> None:
    share = validate_share(form(friend_email="vüqar@bücher.az"))
    assert validate_share(share.as_fields()) == share


@pytest.mark.parametrize("name", ["J.R.R. Tolkien", "Dr. Who", "Ləman Əliyeva",
                                  "\u0645\u0647\u200c\u0631\u0627\u0646",  # Persian ZWNJ
                                  "Ali \U0001f468\u200d\U0001f469\u200d\U0001f467",
                                  "U.S.A. fan", "O'Brien-Smith"])
def test_real_names_pass(name: str) -> None:
    assert validate_share(form(sender_name=name)).sender.name == name


def test_a_note_with_sentences_and_times_passes() -> None:
    note = "Read this, e.g. the part at 12:30. It is 3.5 times better! See you at 7 p.m."
    assert validate_share(form(message=note)).note == note


def test_local_part_of_64_octets_passes() -> None:
    assert validate_share(form(friend_email="a" * 64 + "@example.org")).friend.email == \
        "a" * 64 + "@example.org"
