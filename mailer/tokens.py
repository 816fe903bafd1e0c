"""Signed links: confirm, unsubscribe, preferences.

A token names its purpose (itsdangerous' salt), so an unsubscribe token cannot confirm
a sign-up, and it expires: confirm links after MAILER_CONFIRM_MAX_AGE_HOURS, the
others after a year (the law in most places wants unsubscribe links to work for months).
"""

from __future__ import annotations

from enum import StrEnum

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from mailer.errors import ExpiredToken, InvalidToken

YEAR = 365 * 86_400


class Purpose(StrEnum):
    CONFIRM = "confirm"
    UNSUBSCRIBE = "unsubscribe"
    PREFERENCES = "preferences"


class Tokens:
    def __init__(self, secret_key: str, confirm_max_age: int) -> None:
        self._serializers = {
            purpose: URLSafeTimedSerializer(secret_key, salt=f"mailer.{purpose.value}")
            for purpose in Purpose
        }
        self._max_age = {Purpose.CONFIRM: confirm_max_age, Purpose.UNSUBSCRIBE: YEAR,
                         Purpose.PREFERENCES: YEAR}

    def make(self, purpose: Purpose, subscriber_id: str) -> str:
        return str(self._serializers[purpose].dumps(subscriber_id))

    def read(self, purpose: Purpose, token: str) -> str:
        """The subscriber id the token was made for; InvalidToken or ExpiredToken if not."""
        if len(token) > 300:
            raise InvalidToken("this link is not valid")
        try:
            value = self._serializers[purpose].loads(token, max_age=self._max_age[purpose])
        except SignatureExpired:
            raise ExpiredToken(f"this {purpose.value} link has expired") from None
        except BadSignature:
            raise InvalidToken("this link is not valid") from None
        if not isinstance(value, str):
            raise InvalidToken("this link is not valid")
        return value
