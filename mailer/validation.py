"""Names and addresses as people type them, into any form or file: they leave here
normalised and safe to put in a header (names on one line without angle brackets,
addresses in the form to send to). What a share or a sign-up adds is checked in its own
folder (`mailer.share.request`, `mailer.subscriptions.model`)."""

from __future__ import annotations

import difflib
import re
import unicodedata
from functools import lru_cache

from email_validator import EmailNotValidError, validate_email
from email_validator.rfc_constants import CASE_INSENSITIVE_MAILBOX_NAMES, DOT_ATOM_TEXT

from mailer.errors import InvalidInput
from mailer.text import ENCODED_WORD_LIKE, check_text, has_link

NAME_MAX = 100
EMAIL_MAX = 254
_FORBIDDEN_IN_NAME = set("<>\r\n")
LINE_BREAKS = re.compile(r"\r\n|\r|\u2028|\u2029|\x85")
LOCAL_MAX_OCTETS = 64  # RFC 5321 4.5.3.1.1
DOMAIN_MAX_OCTETS = 255  # RFC 5321 4.5.3.1.2
PATH_MAX_OCTETS = 256  # RFC 5321 4.5.3.1.3, with the angle brackets


def clean_name(value: str) -> str:
    """NFC, inner white space folded to single spaces; raises ValueError with the reason."""
    check_text(value)
    if LINE_BREAKS.search(value) or "\n" in value:
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




# Mailbox providers readers most often mistype, for `likely_meant` (the idea of
# Kicksend's mailcheck: suggest, never refuse).
COMMON_DOMAINS = ("gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "live.com",
                  "icloud.com", "aol.com", "gmx.com", "mail.ru", "yandex.ru", "bk.ru",
                  "inbox.ru", "list.ru", "rambler.ru", "protonmail.com", "proton.me",
                  "box.az", "mail.az", "googlemail.com", "yahoo.co.uk", "hotmail.co.uk")


# Real providers a near miss of the above must not be "corrected" to one of them.
_ALSO_REAL = frozenset({"mail.com", "ymail.com", "me.com", "mac.com", "msn.com",
                        "yandex.com", "yahoo.fr", "yahoo.de", "hotmail.fr", "hotmail.de",
                        "hotmail.it", "live.ru", "live.fr", "gmx.de", "gmx.net", "web.de",
                        "mail.ua", "ukr.net", "email.com", "inbox.com", "yahoo.ca"})


def likely_meant(address: str) -> str | None:
    """The address with a common provider's domain in place of a near miss
    ("leyla@gmial.con" -> "leyla@gmail.com"); None when it looks as meant."""
    local, at, domain = address.rpartition("@")
    domain = domain.lower()
    if not at or domain in COMMON_DOMAINS or domain in _ALSO_REAL:
        return None
    close = difflib.get_close_matches(domain, COMMON_DOMAINS, n=1, cutoff=0.75)
    return f"{local}@{close[0]}" if close else None
