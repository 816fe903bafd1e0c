"""Flood control on a real Redis, and through the real API under uvicorn with many
concurrent clients."""

from __future__ import annotations

import asyncio
import ipaddress
from collections import Counter
from collections.abc import Callable, Iterator

import httpx
import pytest
import redis

from mailer.config import Settings
from mailer.errors import RateLimited
from mailer.limits import Quota, parse_networks, parse_quota
from mailer.local.embedded import ApiServer
from mailer.web.app import create_app
from mailer.web.flood import FloodGate, client_ip
from tests.conftest import NO_FLOOD_LIMITS as OFF

ARTICLE = "non-aligned-movement-support-to-azerbaijan-over-karabakh-significant"


def form(i: int, friend: str | None = None) -> dict[str, str]:
    return {"article_id": ARTICLE, "sender_name": f"Reader {i}",
            "sender_email": f"reader{i}@example.com", "friend_name": "Friend",
            "friend_email": friend or f"friend{i}@example.org"}


@pytest.mark.parametrize(("text", "quota"), [
    ("10/h", Quota(10, 3600)), ("3/d", Quota(3, 86400)), ("100/15m", Quota(100, 900)),
    (" 5 / s ", Quota(5, 1)), ("none", None)])
def test_parse_quota(text: str, quota: Quota | None) -> None:
    assert parse_quota(text) == quota


@pytest.mark.parametrize("text", ["10", "10/week", "ten/h", "10/0h"])
def test_bad_quota(text: str) -> None:
    with pytest.raises(ValueError):
        parse_quota(text)


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


def test_gate_counts_all_or_nothing(redis_client: redis.Redis) -> None:
    gate = FloodGate(redis_client, "share")
    ip, to = Quota(3, 60), Quota(1, 60)
    gate.take([("ip", "1.1.1.1", ip), ("to", "victim", to)])
    with pytest.raises(RateLimited) as refused:
        gate.take([("ip", "1.1.1.1", ip), ("to", "victim", to)])
    assert str(refused.value).startswith("This friend has been sent enough articles for now")
    assert 55 < refused.value.retry_after <= 60
    assert redis_client.get("mailer:flood:share:ip:1.1.1.1") == b"1", "refused: not counted"
    gate.take([("ip", "1.1.1.1", ip), ("to", "other", to)])
    gate.take([("ip", "1.1.1.1", ip), ("to", "third", to)])
    with pytest.raises(RateLimited, match=r"Too many shares from your network: please try "
                                          r"again in [0-9]+ seconds"):
        gate.take([("ip", "1.1.1.1", ip), ("to", "fourth", to)])
    assert redis_client.pttl("mailer:flood:share:ip:1.1.1.1") > 0


def test_addresses_are_not_stored_in_redis(redis_client: redis.Redis,
                                           make_settings: Callable[..., Settings]) -> None:
    from mailer.share.guards import ShareGuards
    from mailer.share.request import validate_share

    ShareGuards(redis_client, make_settings()).check(validate_share(form(1)), "1.1.1.1")
    keys = [k.decode() for k in redis_client.keys("mailer:flood:*")]
    assert len(keys) == 5 and not any("example" in k for k in keys)


@pytest.fixture
def serve(make_settings: Callable[..., Settings], redis_client: redis.Redis
          ) -> Iterator[Callable[..., str]]:
    servers: list[ApiServer] = []

    def start(**overrides: object) -> str:
        server = ApiServer(create_app(make_settings(**overrides))).start()
        servers.append(server)
        return server.url

    yield start
    for server in servers:
        server.stop()


async def post_all(url: str, bodies: list[dict[str, str]],
                   headers: list[dict[str, str]] | None = None) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        return await asyncio.gather(*(client.post("/share", json=body,
                                                  headers=(headers or [{}] * len(bodies))[i])
                                      for i, body in enumerate(bodies)))


def test_100_parallel_posts_from_one_ip_get_exactly_the_allowed_202s(
        serve: Callable[..., str], redis_client: redis.Redis) -> None:
    url = serve(**{**OFF, "share_limit_per_ip": "10/h"})
    responses = asyncio.run(post_all(url, [form(i) for i in range(100)]))
    assert Counter(r.status_code for r in responses) == {202: 10, 429: 90}
    assert redis_client.llen("share") == 10, "only the accepted ones were queued"
    refused = next(r for r in responses if r.status_code == 429)
    assert 3590 <= int(refused.headers["retry-after"]) <= 3600
    assert refused.json()["detail"].startswith(
        "Too many shares from your network: please try again in")


def test_a_recipient_cannot_be_mail_bombed_from_many_addresses(
        serve: Callable[..., str], redis_client: redis.Redis) -> None:
    url = serve(**{**OFF, "share_limit_per_recipient": "3/d", "trusted_proxies": "127.0.0.1"})
    bodies = [form(i, friend="victim@example.org") for i in range(8)]
    headers = [{"x-forwarded-for": f"198.51.100.{i}"} for i in range(8)]
    responses = asyncio.run(post_all(url, bodies, headers))
    assert Counter(r.status_code for r in responses) == {202: 3, 429: 5}
    assert int(next(r for r in responses if r.status_code == 429)
               .headers["retry-after"]) > 86000


def test_the_forwarded_header_counts_only_from_a_trusted_proxy(
        serve: Callable[..., str]) -> None:
    spoofed = serve(**{**OFF, "share_limit_per_ip": "2/h"})
    headers = [{"x-forwarded-for": f"198.51.100.{i}"} for i in range(4)]
    codes = [r.status_code for r in asyncio.run(
        post_all(spoofed, [form(i) for i in range(4)], headers))]
    assert sorted(codes) == [202, 202, 429, 429], "one client, whatever it claims"
    trusted = serve(**{**OFF, "share_limit_per_ip": "2/h", "trusted_proxies": "127.0.0.1"})
    codes = [r.status_code for r in asyncio.run(
        post_all(trusted, [form(10 + i) for i in range(4)], headers))]
    assert codes == [202] * 4, "four clients behind our proxy"


def test_sender_article_and_total_limits(serve: Callable[..., str]) -> None:
    url = serve(**{**OFF, "share_limit_per_sender": "2/h"})
    same_sender = [{**form(i), "sender_email": "loud@example.com"} for i in range(3)]
    assert [r.status_code for r in asyncio.run(post_all(url, same_sender[:2]))] == [202, 202]
    [third] = asyncio.run(post_all(url, same_sender[2:]))
    assert third.status_code == 429
    assert third.json()["detail"].startswith("Too many shares from this e-mail address")
    url = serve(**{**OFF, "share_limit_per_article": "1/h", "share_limit_total": "5/h"})
    # Sent together: which of the two wins is up to the server.
    accepted, refused = sorted(asyncio.run(post_all(url, [form(20), form(21)])),
                               key=lambda r: r.status_code)
    assert (accepted.status_code, refused.status_code) == (202, 429)
    assert "This article has been shared too often" in refused.json()["detail"]


def test_invalid_posts_are_not_counted(serve: Callable[..., str]) -> None:
    url = serve(**{**OFF, "share_limit_per_ip": "2/h"})
    bad = [{**form(i), "friend_email": "nope"} for i in range(5)]
    assert {r.status_code for r in asyncio.run(post_all(url, bad))} == {422}
    assert [r.status_code for r in asyncio.run(post_all(url, [form(30), form(31)]))] == [
        202, 202]


def test_a_browser_over_the_limit_gets_a_page(serve: Callable[..., str]) -> None:
    url = serve(**{**OFF, "share_limit_per_ip": "1/h"})
    with httpx.Client(base_url=url) as client:
        assert client.post("/share", data=form(1), headers={"accept": "text/html"}
                           ).status_code == 303
        page = client.post("/share", data=form(2), headers={"accept": "text/html"})
    assert page.status_code == 429 and "retry-after" in page.headers
    assert "Too many shares from your network" in page.text


def test_signups_per_ip(serve: Callable[..., str]) -> None:
    url = serve(signup_limit_per_ip="2/h")
    with httpx.Client(base_url=url) as client:
        codes = [client.post("/subscribe", json={"email": f"s{i}@example.org"}).status_code
                 for i in range(3)]
    assert codes == [202, 202, 429]


def test_plus_tags_do_not_multiply_a_recipients_quota(
        serve: Callable[..., str], redis_client: redis.Redis) -> None:
    url = serve(**{**OFF, "share_limit_per_recipient": "3/d"})
    bodies = [form(i, friend=f"Victim+{i}@example.org") for i in range(5)]
    codes = [r.status_code for r in asyncio.run(post_all(url, bodies))]
    assert sorted(codes) == [202, 202, 202, 429, 429]


def test_sign_up_mails_to_one_address_are_capped_per_day(
        serve: Callable[..., str], redis_client: redis.Redis) -> None:
    """Rotating client addresses and no resend window: still at most
    MAILER_SIGNUP_MAILS_PER_DAY e-mails, and every answer is the same 202."""
    url = serve(**{**OFF, "confirm_resend_seconds": 0, "signup_mails_per_day": 3})

    async def sign_up_six_times() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            return [await client.post("/subscribe", json={"email": "target@example.org"})
                    for _ in range(6)]

    responses = asyncio.run(sign_up_six_times())
    assert {r.status_code for r in responses} == {202}
    assert len({r.text for r in responses}) == 1, "the answer tells nothing"
    assert redis_client.llen("share") == 3, "three confirmation e-mails queued, not six"
