"""A share request as the reader typed it, checked: every field at once, so the reader
sees every problem together. Names and addresses are checked as everywhere
(`mailer.validation`); the note, the one-friend rule and the honeypot are the share's own.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.headerregistry import Address as HeaderAddress
from typing import Any, TypeVar

from mailer.articles.model import SLUG_MAX, SLUG_PATTERN
from mailer.errors import InvalidInput
from mailer.text import check_text, has_link
from mailer.validation import LINE_BREAKS, clean_email, clean_name

NOTE_MAX = 500
SHARE_FIELDS = ("article_id", "sender_name", "sender_email", "friend_name", "friend_email",
                "message")
HONEYPOT = "website"  # hidden in the form: people leave it empty, form-filling bots do not
T = TypeVar("T")


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


def clean_note(value: str) -> str:
    """Plain text: line breaks kept (as \\n), other control characters refused."""
    check_text(value)
    note = LINE_BREAKS.sub("\n", unicodedata.normalize("NFC", value)).strip()
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
