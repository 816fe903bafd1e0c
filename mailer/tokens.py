"""Signed links (confirm, unsubscribe, preferences, manage) and sealed return paths.

A token names its purpose (itsdangerous' salt), so an unsubscribe token cannot confirm
a sign-up, and it expires: confirm links after MAILER_CONFIRM_MAX_AGE_HOURS, the links
a reader asks for on the "Manage my subscriptions" page after MAILER_MANAGE_LINK_HOURS
(whoever can read that one e-mail can change the preferences, so it should not work
for long), the others after a year (the law in most places wants unsubscribe links to
work for months). A manage link opens the preferences page, as a preferences link
does: the page takes either (`read_any`).
The token is the subscriber id, a timestamp and an HMAC-SHA256 over both: no JSON and
no compression, because every digest carries two and a large list makes millions.

The link in a share e-mail with which the friend refuses more shares stands for an
e-mail address, not a random id: that token is sealed (Fernet: AES-128-CBC and
HMAC-SHA256, from the `cryptography` package we have for DKIM), so the address is
never readable in a URL, a log or a Referer.

A return path (VERP) names the message it was sent with: `bounces+TOKEN@domain`, so a
bounce that comes back days later says whose mail it was, whatever the far end's
format. TOKEN is the message's id, the day it was sent and an HMAC-SHA256 over both,
cut to 80 bits, in base32: case does not matter (some servers change it), and an
altered or made-up token is recognised as such.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from cryptography.fernet import Fernet
from cryptography.fernet import InvalidToken as BadSeal
from itsdangerous import BadSignature, SignatureExpired, TimestampSigner
from itsdangerous.encoding import base64_encode, int_to_bytes, want_bytes

from mailer.errors import ExpiredToken, InvalidToken

YEAR = 365 * 86_400


class Purpose(StrEnum):
    CONFIRM = "confirm"
    UNSUBSCRIBE = "unsubscribe"
    PREFERENCES = "preferences"
    REFUSE_SHARES = "refuse-shares"  # seals an address
    MANAGE = "manage"  # the preferences page, asked for on the site: short-lived


class _Signer(TimestampSigner):
    """itsdangerous's TimestampSigner, signing with fewer steps: a digest signs two
    links per message, and the library derives the key, encodes the timestamp and
    checks its arguments' types each time. The same tokens, byte for byte (a test
    holds the two to it); reading them is the library's own."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._key = super().derive_key()
        self._sep = want_bytes(self.sep)
        self._stamped = (-1, b"")  # (second, its encoding)

    def sign(self, value: str | bytes) -> bytes:
        now = self.get_timestamp()
        if now != self._stamped[0]:
            self._stamped = (now, base64_encode(int_to_bytes(now)))
        signed = want_bytes(value) + self._sep + self._stamped[1]
        return signed + self._sep + base64_encode(
            hmac.new(self._key, signed, self.digest_method).digest())


class Tokens:
    def __init__(self, secret_key: str, confirm_max_age: int, manage_max_age: int = 86_400
                 ) -> None:
        self._signers = {
            purpose: _Signer(secret_key, salt=f"mailer.{purpose.value}",
                                     digest_method=hashlib.sha256)
            for purpose in Purpose
        }
        self._sealer = Fernet(base64.urlsafe_b64encode(
            hashlib.sha256(f"mailer.refuse-shares:{secret_key}".encode()).digest()))
        self._max_age = {Purpose.CONFIRM: confirm_max_age, Purpose.UNSUBSCRIBE: YEAR,
                         Purpose.PREFERENCES: YEAR, Purpose.REFUSE_SHARES: 5 * YEAR,
                         Purpose.MANAGE: manage_max_age}

    def make(self, purpose: Purpose, subscriber_id: str) -> str:
        if purpose is Purpose.REFUSE_SHARES:
            return self._sealer.encrypt(subscriber_id.encode()).decode("ascii")
        return self._signers[purpose].sign(subscriber_id).decode("ascii")

    def read(self, purpose: Purpose, token: str) -> str:
        """The subscriber id the token was made for; InvalidToken or ExpiredToken if not."""
        if len(token) > 600 or not token.isascii():
            raise InvalidToken("this link is not valid")
        if purpose is Purpose.REFUSE_SHARES:
            try:
                return self._sealer.decrypt(token.encode(), ttl=self._max_age[purpose]
                                            ).decode("utf-8", "replace")
            except BadSeal:
                raise InvalidToken("this link is not valid") from None
        try:
            value = self._signers[purpose].unsign(token, max_age=self._max_age[purpose])
        except SignatureExpired:
            raise ExpiredToken(f"this {purpose.value} link has expired") from None
        except BadSignature:
            raise InvalidToken("this link is not valid") from None
        return value.decode("ascii", "replace")

    def read_any(self, purposes: tuple[Purpose, ...], token: str) -> str:
        """`read` for a link that may carry a token of any of `purposes` (signed ones
        only): the first that the token is good for. If none is, ExpiredToken when it
        was good for one but is too old, else InvalidToken."""
        expired: ExpiredToken | None = None
        for purpose in purposes:
            try:
                return self.read(purpose, token)
            except ExpiredToken as exc:
                expired = expired or exc
            except InvalidToken:
                continue
        raise expired or InvalidToken("this link is not valid")


RETURN_TOKEN_CHARS = 45  # base32 of 16 + 2 + 10 bytes, unpadded
RETURN_PATH_MAX_DAYS = 60  # a bounce later than this suppresses no one
_EPOCH = date(2020, 1, 1)


@dataclass(frozen=True)
class ReturnToken:
    message_id: str
    sent_on: date


class ReturnPaths:
    """Envelope senders that name their message (VERP) under MAILER_BOUNCE_ADDRESS."""

    def __init__(self, secret_key: str, bounce_address: str) -> None:
        self._key = hashlib.sha256(f"mailer.return-path:{secret_key}".encode()).digest()
        self._local, _, self._domain = bounce_address.rpartition("@")

    def address(self, message_id: str, today: date | None = None) -> str:
        """`bounces+TOKEN@domain` for the message (a ledger id: 32 hex digits)."""
        day = ((today or datetime.now(UTC).date()) - _EPOCH).days
        body = bytes.fromhex(message_id) + day.to_bytes(2, "big")
        token = _encode(body + self._mac(body))
        return f"{self._local}+{token}@{self._domain}"

    def read(self, address: str, today: date | None = None) -> ReturnToken:
        """The message a return path names; InvalidToken when it is not one of ours or
        was altered, ExpiredToken when it is older than RETURN_PATH_MAX_DAYS."""
        local, _, domain = address.strip().strip("<>").rpartition("@")
        prefix, plus, token = local.partition("+")
        if not plus or prefix.lower() != self._local.lower() \
                or domain.lower() != self._domain.lower() \
                or len(token) != RETURN_TOKEN_CHARS or not token.isascii():
            raise InvalidToken("not one of our return paths")
        try:
            raw = base64.b32decode(token.upper() + "===")
        except ValueError:
            raise InvalidToken("not one of our return paths") from None
        if _encode(raw) != token.lower():  # its last letter carries a spare bit
            raise InvalidToken("a return path whose seal does not match (forged or altered)")
        body, mac = raw[:18], raw[18:]
        if not hmac.compare_digest(mac, self._mac(body)):
            raise InvalidToken("a return path whose seal does not match (forged or altered)")
        sent_on = date.fromordinal(_EPOCH.toordinal() + int.from_bytes(body[16:], "big"))
        if ((today or datetime.now(UTC).date()) - sent_on).days > RETURN_PATH_MAX_DAYS:
            raise ExpiredToken(f"a return path of {sent_on.isoformat()}, too old to act on")
        return ReturnToken(body[:16].hex(), sent_on)

    def _mac(self, body: bytes) -> bytes:
        return hmac.new(self._key, body, hashlib.sha256).digest()[:10]


def _encode(raw: bytes) -> str:
    return base64.b32encode(raw).decode("ascii").rstrip("=").lower()
