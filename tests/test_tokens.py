from __future__ import annotations

import hashlib
from datetime import date, timedelta

import pytest

from mailer.errors import ExpiredToken, InvalidToken
from mailer.tokens import RETURN_PATH_MAX_DAYS, Purpose, ReturnPaths, ReturnToken, Tokens

SECRET = "a-secret"
TOKENS = Tokens(SECRET, confirm_max_age=3600)


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


BOUNCES = "bounces@bounces.today.az"
MESSAGE = "0123456789abcdef0123456789abcdef"


def test_a_return_path_names_its_message_and_day() -> None:
    paths = ReturnPaths(SECRET, BOUNCES)
    address = paths.address(MESSAGE, today=date(2026, 12, 4))
    local, _, domain = address.partition("@")
    assert domain == "bounces.today.az" and local.startswith("bounces+")
    assert len(local) <= 64, "RFC 5321's limit for a local part"
    for seen in (address, address.upper(), f"<{address}>"):  # servers change case
        assert paths.read(seen, today=date(2026, 12, 5)) == ReturnToken(MESSAGE,
                                                                        date(2026, 12, 4))


def test_an_altered_or_foreign_return_path_is_recognised() -> None:
    paths = ReturnPaths(SECRET, BOUNCES)
    address = paths.address(MESSAGE)
    local, _, domain = address.partition("@")
    flipped = local[:-1] + ("a" if local[-1] != "a" else "b")
    for forged in (f"{flipped}@{domain}", ReturnPaths("another-key-0123456789", BOUNCES)
                   .address(MESSAGE), address.replace("bounces.today.az", "evil.example"),
                   "bounces@bounces.today.az", "bounces+short@bounces.today.az",
                   f"bounces+{'!' * 45}@bounces.today.az"):
        with pytest.raises(InvalidToken):
            paths.read(forged)


def test_a_stale_return_path_is_said_to_be_stale() -> None:
    paths = ReturnPaths(SECRET, BOUNCES)
    address = paths.address(MESSAGE, today=date(2026, 1, 1))
    with pytest.raises(ExpiredToken):
        paths.read(address, today=date(2026, 1, 1) + timedelta(days=RETURN_PATH_MAX_DAYS + 1))


def test_every_other_last_letter_of_a_return_path_is_refused() -> None:
    """Base32's last letter carries a spare bit: a token differing only there decodes
    to the same bytes, and must still be refused as altered."""
    paths = ReturnPaths(SECRET, BOUNCES)
    local, _, domain = paths.address(MESSAGE).partition("@")
    for letter in "abcdefghijklmnopqrstuvwxyz234567":
        if letter != local[-1]:
            with pytest.raises(InvalidToken):
                paths.read(f"{local[:-1]}{letter}@{domain}")


def test_our_signer_makes_the_librarys_tokens_byte_for_byte() -> None:
    """The fast signer writes what itsdangerous's own TimestampSigner writes, so the
    library reads every link we send (and those sent before it existed)."""
    from itsdangerous import TimestampSigner

    from mailer.tokens import _Signer

    class Fixed(_Signer):
        def get_timestamp(self) -> int:
            return 1_790_000_000

    class Library(TimestampSigner):
        def get_timestamp(self) -> int:
            return 1_790_000_000

    for salt, value in (("mailer.unsubscribe", "a" * 32), ("mailer.preferences", "b_weekly"),
                        ("mailer.confirm", "ünïcode")):
        ours = Fixed("k" * 32, salt=salt, digest_method=hashlib.sha256)
        library = Library("k" * 32, salt=salt, digest_method=hashlib.sha256)
        assert ours.sign(value) == library.sign(value)
        assert library.unsign(ours.sign(value)) == value.encode()
    tokens = Tokens("k" * 32, 3600)
    assert tokens.read(Purpose.UNSUBSCRIBE, tokens.make(Purpose.UNSUBSCRIBE, "x1")) == "x1"
