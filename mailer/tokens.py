"""Signed links: confirm, unsubscribe, preferences.

A token names its purpose (itsdangerous' salt), so an unsubscribe token cannot confirm
a sign-up, and it expires: confirm links after MAILER_CONFIRM_MAX_AGE_HOURS, the
others after a year (the law in most places wants unsubscribe links to work for months).
The token is the subscriber id, a timestamp and an HMAC-SHA256 over both: no JSON and
no compression, because every digest carries two and a large list makes millions.

The link in a share e-mail with which the friend refuses more shares stands for an
e-mail address, not a random id: that token is sealed (Fernet: AES-128-CBC and
HMAC-SHA256, from the `cryptography` package we have for DKIM), so the address is
never readable in a URL, a log or a Referer.
"""

from __future__ import annotations

import base64
import hashlib
from enum import StrEnum

from cryptography.fernet import Fernet
from cryptography.fernet import InvalidToken as BadSeal
from itsdangerous import BadSignature, SignatureExpired, TimestampSigner

from mailer.errors import ExpiredToken, InvalidToken

YEAR = 365 * 86_400


class Purpose(StrEnum):
    CONFIRM = "confirm"
    UNSUBSCRIBE = "unsubscribe"
    PREFERENCES = "preferences"
    REFUSE_SHARES = "refuse-shares"  # seals an address


class Tokens:
    def __init__(self, secret_key: str, confirm_max_age: int) -> None:
        self._signers = {
            purpose: TimestampSigner(secret_key, salt=f"mailer.{purpose.value}",
                                     digest_method=hashlib.sha256)
            for purpose in Purpose
        }
        self._sealer = Fernet(base64.urlsafe_b64encode(
            hashlib.sha256(f"mailer.refuse-shares:{secret_key}".encode()).digest()))
        self._max_age = {Purpose.CONFIRM: confirm_max_age, Purpose.UNSUBSCRIBE: YEAR,
                         Purpose.PREFERENCES: YEAR, Purpose.REFUSE_SHARES: 5 * YEAR}

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
