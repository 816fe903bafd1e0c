from __future__ import annotations

import pytest

from mailer.errors import ExpiredToken, InvalidToken
from mailer.tokens import Purpose, Tokens

TOKENS = Tokens("a-secret", confirm_max_age=3600)


@pytest.mark.parametrize("purpose", list(Purpose))
def test_round_trip(purpose: Purpose) -> None:
    assert TOKENS.read(purpose, TOKENS.make(purpose, "sub123")) == "sub123"


def test_token_for_one_purpose_is_refused_for_another() -> None:
    token = TOKENS.make(Purpose.UNSUBSCRIBE, "sub123")
    with pytest.raises(InvalidToken, match="this link is not valid"):
        TOKENS.read(Purpose.CONFIRM, token)


def test_tampered_token_is_refused() -> None:
    token = TOKENS.make(Purpose.CONFIRM, "sub123")
    forged = token.replace(token[1], "A" if token[1] != "A" else "B", 1)
    with pytest.raises(InvalidToken):
        TOKENS.read(Purpose.CONFIRM, forged)
    with pytest.raises(InvalidToken):
        TOKENS.read(Purpose.CONFIRM, "x" * 1000)


def test_token_signed_with_another_key_is_refused() -> None:
    other = Tokens("another-secret", confirm_max_age=3600).make(Purpose.CONFIRM, "sub123")
    with pytest.raises(InvalidToken):
        TOKENS.read(Purpose.CONFIRM, other)


def test_expired_confirm_token() -> None:
    stale = Tokens("a-secret", confirm_max_age=-1)
    token = stale.make(Purpose.CONFIRM, "sub123")
    with pytest.raises(ExpiredToken, match="this confirm link has expired"):
        stale.read(Purpose.CONFIRM, token)
    assert stale.read(Purpose.UNSUBSCRIBE, stale.make(Purpose.UNSUBSCRIBE, "s")) == "s"
