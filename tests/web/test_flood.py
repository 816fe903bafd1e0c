"""Flood control through the real API under uvicorn with many concurrent clients (the
gate itself: tests/limits/test_flood.py)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterator

import httpx
import pytest
import redis

from mailer.config import Settings
from mailer.local.embedded import ApiServer
from mailer.web.app import create_app
from tests.conftest import NO_FLOOD_LIMITS as OFF

ARTICLE = "non-aligned-movement-support-to-azerbaijan-over-karabakh-significant"


def form(i: int, friend: str | None = None) -> dict[str, str]:
    return {"article_id": ARTICLE, "sender_name": f"Reader {i}",
            "sender_email": f"reader{i}@example.com", "friend_name": "Friend",
            "friend_email": friend or f"friend{i}@example.org"}


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
        "Many people on your network (an office's or a mobile network's, perhaps) have "
        "shared articles in the last hour, so sharing from it is paused for a while: please "
        "try again in")


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
    assert "Many people on your network" in page.text
    assert "Everything you typed is kept below." in page.text
    assert 'value="friend2@example.org"' in page.text, "what was typed stays"
    assert '<textarea id="message"' in page.text, "the form is there, not a dead end"


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
