"""Who the client is, behind the proxies we trust and no others."""

from __future__ import annotations

import ipaddress

import pytest

from mailer.limits.parsing import parse_networks
from mailer.web.clients import client_ip

PROXIES = parse_networks("127.0.0.1, 10.0.0.0/8")


@pytest.mark.parametrize(("peer", "header", "expected"), [
    ("203.0.113.9", "", "203.0.113.9"),
    ("203.0.113.9", "1.2.3.4", "203.0.113.9"),  # not a proxy of ours: header ignored
    ("127.0.0.1", "198.51.100.7", "198.51.100.7"),
    ("127.0.0.1", "6.6.6.6, 198.51.100.7, 10.1.2.3", "198.51.100.7"),  # spoofed left part
    ("127.0.0.1", "", "127.0.0.1"),
    ("127.0.0.1", "garbage, 10.1.2.3", "10.1.2.3"),
    ("127.0.0.1", "2001:db8::1", "2001:db8::1"),
])
def test_client_ip_trusts_only_our_proxies(peer: str, header: str, expected: str) -> None:
    headers = {"x-forwarded-for": header} if header else {}
    assert client_ip(peer, headers, "X-Forwarded-For", PROXIES) == expected
    ipaddress.ip_address(expected)
