"""The limits settings speak of, parsed: send rates (`14/s`), quotas (`10/h`, `3/d`)
and trusted networks. `mailer.config` checks settings with these, so this module
imports nothing of the project (`mailer.errors` at most): loading the settings must
not load the Redis side of the limits."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(s|sec|second|m|min|minute|h|hour)\s*$")
_PER = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60,
        "h": 3600, "hour": 3600}


@dataclass(frozen=True)
class Rate:
    per_second: float

    @property
    def interval(self) -> float:
        return 1.0 / self.per_second

    def __str__(self) -> str:
        return f"{self.per_second:g}/s"


def parse_rate(text: str) -> Rate | None:
    """`14/s`, `600/m`, `20000/h`; `none`, `0` or an empty string mean no limit."""
    if text.strip().lower() in {"", "0", "none", "off", "unlimited"}:
        return None
    match = _RATE.match(text.lower())
    if not match:
        raise ValueError(f"{text!r} is not a rate like 14/s, 600/m or 20000/h")
    per_second = float(match.group(1)) / _PER[match.group(2)]
    if per_second <= 0:
        return None
    return Rate(per_second)


def parse_domain_rates(text: str) -> dict[str, Rate | None]:
    """`gmail.com=20/s, yahoo.com=10/s`: per-domain overrides."""
    rates: dict[str, Rate | None] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        domain, sep, rate = item.partition("=")
        if not sep or not domain.strip():
            raise ValueError(f"{item!r} is not domain=rate (e.g. gmail.com=20/s)")
        rates[domain.strip().lower()] = parse_rate(rate)
    return rates


_QUOTA = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*(s|m|h|d)\s*$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class Quota:
    count: int
    seconds: int

    def __str__(self) -> str:
        for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
            if self.seconds % size == 0:
                per = self.seconds // size
                return f"{self.count}/{per if per > 1 else ''}{unit}"
        return f"{self.count}/{self.seconds}s"


def parse_quota(text: str) -> Quota | None:
    """`10/h`, `3/d`, `100/15m`; `none` for no limit."""
    if text.strip().lower() in {"none", "off", "unlimited", ""}:
        return None
    match = _QUOTA.match(text.lower())
    if not match:
        raise ValueError(f"{text!r} is not a quota like 10/h, 3/d or 100/15m")
    count, per, unit = int(match.group(1)), int(match.group(2) or 1), match.group(3)
    if per < 1:
        raise ValueError(f"{text!r}: the window must be at least 1{unit}")
    return Quota(count, per * _UNIT[unit])


def parse_networks(text: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """`10.0.0.0/8, 127.0.0.1`: the proxies allowed to say who the client is."""
    return tuple(ipaddress.ip_network(part.strip(), strict=False)
                 for part in text.split(",") if part.strip())
