"""Limits as settings spell them: rates, per-domain rates, quotas and networks."""

from __future__ import annotations

import ipaddress

import pytest

from mailer.limits.parsing import (
    Quota,
    Rate,
    parse_domain_rates,
    parse_networks,
    parse_quota,
    parse_rate,
)


@pytest.mark.parametrize(("text", "per_second"), [
    ("14/s", 14), ("600/m", 10), ("7200/h", 2), (" 2.5 / sec ", 2.5), ("1/minute", 1 / 60)])
def test_parse_rate(text: str, per_second: float) -> None:
    rate = parse_rate(text)
    assert rate is not None and rate.per_second == pytest.approx(per_second)


@pytest.mark.parametrize("text", ["", "none", "0", "off", "0/s"])
def test_no_limit(text: str) -> None:
    assert parse_rate(text) is None


@pytest.mark.parametrize("text", ["14", "fast", "14/day", "-1/s"])
def test_bad_rate(text: str) -> None:
    with pytest.raises(ValueError, match="is not a rate like 14/s"):
        parse_rate(text)


def test_domain_rates() -> None:
    assert parse_domain_rates("Gmail.com=20/s, yahoo.com=none,") == {
        "gmail.com": Rate(20), "yahoo.com": None}
    with pytest.raises(ValueError, match="is not domain=rate"):
        parse_domain_rates("gmail.com:20/s")


@pytest.mark.parametrize(("text", "quota"), [
    ("10/h", Quota(10, 3600)), ("3/d", Quota(3, 86400)), ("100/15m", Quota(100, 900)),
    (" 5 / s ", Quota(5, 1)), ("none", None)])
def test_parse_quota(text: str, quota: Quota | None) -> None:
    assert parse_quota(text) == quota


@pytest.mark.parametrize("text", ["10", "10/week", "ten/h", "10/0h"])
def test_bad_quota(text: str) -> None:
    with pytest.raises(ValueError):
        parse_quota(text)


def test_parse_networks() -> None:
    assert parse_networks("127.0.0.1, 10.0.0.0/8,") == (
        ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("10.0.0.0/8"))
