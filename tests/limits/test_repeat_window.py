"""The repeat window on a real Redis: the earlier job's id for a repeat, none for the
first, and a released claim lets the next request go ahead (the routes that use it:
tests/web/test_share_once.py)."""

from __future__ import annotations

import asyncio

import redis

from mailer.limits.repeat_window import RepeatWindow


def earlier(window: RepeatWindow, share: dict[str, str], job_id: str, **keys: str) -> str | None:
    return asyncio.run(window.earlier_job(share, job_id, **keys))


SHARE = {"sender_email": "aysel@example.com", "friend_email": "leyla@example.org",
         "article_id": "karabakh"}


def test_a_repeat_gets_the_earlier_job(redis_client: redis.Redis) -> None:
    window = RepeatWindow(redis_client, 600)
    assert earlier(window, SHARE, "job-1", client_id="1.1.1.1") is None
    shouted = {**SHARE, "sender_email": "AYSEL@example.com"}
    assert earlier(window, shouted, "job-2", client_id="2.2.2.2") == "job-1"
    other = {**SHARE, "friend_email": "someone@example.org"}
    assert earlier(window, other, "job-3", client_id="1.1.1.1") is None


def test_an_idempotency_key_is_per_client(redis_client: redis.Redis) -> None:
    window = RepeatWindow(redis_client, 600)
    other = {**SHARE, "friend_email": "someone@example.org"}
    assert earlier(window, SHARE, "job-1", client_id="a", idempotency_key="k") is None
    assert earlier(window, other, "job-2", client_id="a", idempotency_key="k") == "job-1"
    third = {**SHARE, "article_id": "other"}
    assert earlier(window, third, "job-3", client_id="b", idempotency_key="k") is None


def test_a_released_claim_lets_the_next_one_go(redis_client: redis.Redis) -> None:
    window = RepeatWindow(redis_client, 600)
    assert earlier(window, SHARE, "job-1", client_id="a") is None
    window.release_claim(SHARE, client_id="a")
    assert earlier(window, SHARE, "job-2", client_id="a") is None
    assert all(0 < redis_client.ttl(k) <= 600 for k in redis_client.keys("mailer:share:*"))


def test_a_window_of_zero_checks_nothing(redis_client: redis.Redis) -> None:
    window = RepeatWindow(redis_client, 0)
    assert earlier(window, SHARE, "job-1", client_id="a") is None
    assert earlier(window, SHARE, "job-2", client_id="a") is None
    assert redis_client.keys("mailer:share:*") == []


def test_the_same_share_posted_at_once_gets_one_job(redis_client: redis.Redis) -> None:
    window = RepeatWindow(redis_client, 600)

    async def at_once() -> list[str | None]:
        return await asyncio.gather(*(window.earlier_job(SHARE, f"job-{i}", client_id="a")
                                      for i in range(5)))

    answers = asyncio.run(at_once())
    [first] = [i for i, answer in enumerate(answers) if answer is None]
    assert answers == [None if i == first else f"job-{first}" for i in range(5)]


def test_a_redis_without_the_script_is_given_it(redis_client: redis.Redis) -> None:
    window = RepeatWindow(redis_client, 600)
    redis_client.script_flush()
    assert earlier(window, SHARE, "job-1", client_id="a") is None
    redis_client.script_flush()
    assert earlier(window, SHARE, "job-2", client_id="a") == "job-1"
