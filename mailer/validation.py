"""Validation of everything a reader types into the share form.

Values leave here normalised and safe to put in a header: names on one line without
angle brackets, addresses in the form to send to, the note as plain text.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.headerregistry import Address as HeaderAddress
from functools import lru_cache
from typing import Any, TypeVar

from email_validator import EmailNotValidError, validate_email
from email_validator.rfc_constants import CASE_INSENSITIVE_MAILBOX_NAMES, DOT_ATOM_TEXT

from mailer.articles.model import SLUG_MAX, SLUG_PATTERN
from mailer.errors import InvalidInput
from mailer.text import ENCODED_WORD_LIKE, check_text, has_link

NAME_MAX = 100
EMAIL_MAX = 254
NOTE_MAX = 500
SHARE_FIELDS = ("article_id", "sender_name", "sender_email", "friend_name", "friend_email",
                "message")
_FORBIDDEN_IN_NAME = set("<>\r\n")
T = TypeVar("T")
_LINE_BREAKS = re.compile(r"\r\n|\r|\u2028|\u2029|\x85")
LOCAL_MAX_OCTETS = 64  # RFC 5321 4.5.3.1.1
DOMAIN_MAX_OCTETS = 255  # RFC 5321 4.5.3.1.2
PATH_MAX_OCTETS = 256  # RFC 5321 4.5.3.1.3, with the angle brackets
HONEYPOT = "website"  # hidden in the form: people leave it empty, form-filling bots do not


@dataclass(frozen=True)
class Address:
    name: str
    email: str
    smtputf8: bool

    def header(self) -> HeaderAddress:
        local, _, domain = self.email.rpartition("@")
        return HeaderAddress(display_name=self.name, username=local, domain=domain)


@dataclass(frozen=True)
class ShareRequest:
    article_id: str
    sender: Address
    friend: Address
    note: str

    def as_fields(self) -> dict[str, str]:
        """The normalised form fields; `validate_share` of these gives this request back."""
        return {
            "article_id": self.article_id,
            "sender_name": self.sender.name,
            "sender_email": self.sender.email,
            "friend_name": self.friend.name,
            "friend_email": self.friend.email,
            "message": self.note,
        }


def clean_name(value: str) -> str:
    """NFC, inner white space folded to single spaces; raises ValueError with the reason."""
    check_text(value)
    if _LINE_BREAKS.search(value) or "\n" in value:
        raise ValueError("must be one line")
    if not _FORBIDDEN_IN_NAME.isdisjoint(value):
        raise ValueError("must not contain the characters < and >")
    if not value.isprintable() if value.isascii() else \
            any(unicodedata.category(c) in {"Cc", "Zl", "Zp"} for c in value):
        raise ValueError("must not contain control characters")
    name = " ".join(unicodedata.normalize("NFC", value).split())
    if not name:
        raise ValueError("is required")
    if len(name) > NAME_MAX:
        raise ValueError(f"is longer than {NAME_MAX} characters")
    if ENCODED_WORD_LIKE.search(name):
        raise ValueError("must be a name, not text like =?utf-8?…?= (which mail programs "
                         "would read as a different name)")
    if has_link(name):
        raise ValueError("must be a name, without links, web or e-mail addresses")
    return name


def clean_email(value: str, *, check_deliverability: bool = False) -> tuple[str, bool]:
    """The address to send to, and whether it needs SMTPUTF8 (a non-ASCII local part).

    An ASCII local part with an internationalised domain is sent with the domain in
    IDNA form, so any relay can carry it.
    """
    value = value.strip()
    if not value:
        raise ValueError("is required")
    if len(value) > EMAIL_MAX:
        raise ValueError(f"is longer than {EMAIL_MAX} characters")
    if any(c in value for c in "\r\n\t "):
        raise ValueError("must be a bare address with no spaces or line breaks")
    check_text(value)
    if not check_deliverability:
        fast = _plain_address(value)
        if fast is not None:
            return _within_smtp_limits(fast), False
    try:
        result = validate_email(value, check_deliverability=check_deliverability)
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from None
    if result.ascii_email:
        return _within_smtp_limits(result.ascii_email), False
    return _within_smtp_limits(result.normalized), True


def _within_smtp_limits(address: str) -> str:
    local, _, domain = address.rpartition("@")
    if len(local.encode()) > LOCAL_MAX_OCTETS:
        raise ValueError(f"has more than {LOCAL_MAX_OCTETS} characters (bytes) before the "
                         "@-sign, more than mail servers accept")
    if len(domain.encode()) > DOMAIN_MAX_OCTETS or \
            len(address.encode()) + 2 > PATH_MAX_OCTETS:
        raise ValueError("is longer than mail servers accept")
    return address


def _plain_address(value: str) -> str | None:
    """What email-validator makes of an ASCII dot-atom address on a domain it has
    accepted before, without asking it again; None for anything else (the full check
    then runs). Checking the domain is most of email-validator's time, and a list
    of a million readers has a few thousand domains: an import goes several times
    faster. tests/test_validation.py holds this to the full check's answers."""
    local, at, domain = value.rpartition("@")
    if not at or not value.isascii() or not DOT_ATOM_TEXT.match(local) \
            or local.lower() in CASE_INSENSITIVE_MAILBOX_NAMES:
        return None
    accepted = _accepted_domain(domain)
    address = f"{local}@{accepted}"
    return address if accepted and len(address) <= EMAIL_MAX else None


@lru_cache(maxsize=8192)
def _accepted_domain(domain: str) -> str | None:
    try:
        result = validate_email(f"a@{domain}", check_deliverability=False)
    except EmailNotValidError:
        return None
    return result.ascii_domain or None


def mask_address(address: str) -> str:
    """For pages and job status anyone with a link may see: `a***@example.org`."""
    local, _, domain = address.rpartition("@")
    return f"{local[:1]}***@{domain}" if local else address


def check_address(value: object, field: str) -> str:
    """One address from an operator or a webhook, or InvalidInput naming the field."""
    try:
        return clean_email(value if isinstance(value, str) else "")[0]
    except ValueError as exc:
        raise InvalidInput({field: str(exc)}) from None


def clean_note(value: str) -> str:
    """Plain text: line breaks kept (as \\n), other control characters refused."""
    check_text(value)
    note = _LINE_BREAKS.sub("\n", unicodedata.normalize("NFC", value)).strip()
    if any(unicodedata.category(c) == "Cc" and c not in "\n\t" for c in note):
        raise ValueError("must not contain control characters")
    if len(note) > NOTE_MAX:
        raise ValueError(f"is longer than {NOTE_MAX} characters")
    if has_link(note):
        raise ValueError("must not contain links, web or e-mail addresses: the article's "
                         "own link is in the e-mail already (if you meant the end of a "
                         "sentence, put a space after the full stop)")
    return note


def clean_friend_email(value: str, *, check_deliverability: bool = False) -> tuple[str, bool]:
    if any(sep in value for sep in ",;"):
        raise ValueError("one friend per share: give a single address")
    return clean_email(value, check_deliverability=check_deliverability)


def validate_share(data: Mapping[str, object], *,
                   check_deliverability: bool = False) -> ShareRequest:
    """All fields are checked, so the reader sees every problem at once."""
    errors: dict[str, str] = {}
    text: dict[str, str] = {}
    for field in SHARE_FIELDS:
        value = data.get(field, "")
        if value is None:
            value = ""
        if not isinstance(value, str):
            errors[field] = "must be a string"
        else:
            text[field] = value

    def check(field: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        if field not in text:
            return None
        try:
            return fn(text[field], *args, **kwargs)
        except ValueError as exc:
            errors[field] = str(exc)
            return None

    article_id = text.get("article_id", "").strip()
    if "article_id" in text:
        if not article_id:
            errors["article_id"] = "is required"
        elif len(article_id) > SLUG_MAX or not re.fullmatch(SLUG_PATTERN, article_id):
            errors["article_id"] = "is not an article id (lower-case letters, digits and hyphens)"
    sender_name = check("sender_name", clean_name)
    sender_email = check("sender_email", clean_email, check_deliverability=check_deliverability)
    friend_name = check("friend_name", clean_name)
    friend_email = check("friend_email", clean_friend_email,
                         check_deliverability=check_deliverability)
    note = check("message", clean_note)
    trap = data.get(HONEYPOT)
    if trap not in (None, ""):
        errors[HONEYPOT] = "must be left empty"
    if errors:
        raise InvalidInput(errors)
    assert sender_name and sender_email and friend_name and friend_email and note is not None
    return ShareRequest(
        article_id=article_id,
        sender=Address(sender_name, *sender_email),
        friend=Address(friend_name, *friend_email),
        note=note,
    )
