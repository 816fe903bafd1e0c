"""Addresses as anyone types them: the fast path a bulk import takes answers exactly as
email-validator does."""

from __future__ import annotations

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import given, settings
from hypothesis import strategies as st

from mailer.validation import _plain_address, clean_email, likely_meant

# The import's fast path must answer exactly as email-validator does, for the addresses
# it takes on (ASCII dot-atoms on a domain seen before) and leave the rest to it.
_ATEXT = "abcxyzABCXYZ0189_!#$%&'*+-/=?^`{|}~."
_local_parts = st.one_of(
    st.text(alphabet=_ATEXT, min_size=0, max_size=70),
    st.sampled_from(["Postmaster", "ABUSE", "a..b", ".a", "a.", "\"quoted\"", "ümit",
                     "a@b", "x" * 64, "x" * 65]))
_domains = st.one_of(
    st.sampled_from(["example.com", "EXAMPLE.org", "localhost", "a.b", "x.test",
                     "example", "-bad-.com", "xn--bcher-kva.example", "bücher.example",
                     "[127.0.0.1]", "sub.domain.co.uk", "a" * 64 + ".com",
                     ("d" * 60 + ".") * 4 + "com", "exa_mple.com", "123.45.67.89"]),
    st.from_regex(r"\A[a-z0-9-]{1,12}(\.[a-z0-9-]{1,12}){0,2}\Z"))


def _full_check(value: str) -> tuple[str, bool] | str:
    try:
        result = validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        return "refused"
    return (result.ascii_email, False) if result.ascii_email else (result.normalized, True)


@settings(max_examples=400, deadline=None)
@given(local=_local_parts, domain=_domains)
def test_plain_address_fast_path_answers_as_email_validator(local: str, domain: str) -> None:
    value = f"{local}@{domain}"
    fast = _plain_address(value)
    if fast is not None:
        assert (fast, False) == _full_check(value)
    try:
        ours: tuple[str, bool] | str = clean_email(value)
    except ValueError:
        ours = "refused"
    full = _full_check(value)
    if full == "refused":
        assert ours == "refused"
    else:
        # The full check's answer, or refused for SMTP's octet limits, checked after it.
        assert ours in (full, "refused")


@pytest.mark.parametrize(("typed", "meant"), [
    ("leyla@gmial.con", "leyla@gmail.com"), ("a@hotmial.com", "a@hotmail.com"),
    ("a@yaho.com", "a@yahoo.com"), ("a@mail.rru", "a@mail.ru"), ("a@outlook.cm", "a@outlook.com"),
    ("a@gmail.com", None), ("a@today.az", None), ("a@mail.com", None), ("a@me.com", None),
    ("a@ymail.com", None), ("a@hotmail.fr", None), ("not-an-address", None)])
def test_a_common_providers_near_miss_is_suggested_never_refused(
        typed: str, meant: str | None) -> None:
    assert likely_meant(typed) == meant
