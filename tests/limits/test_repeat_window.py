"""The repeat window on a real Redis: the earlier job's id for a repeat, none for the
first, and a released claim lets the next request go ahead (the routes that use it:
tests/web/test_share_once.py)."""

from __future__ import annotations

import redis

from mailer.limits.repeat_window import RepeatWindow

SHARE = {"sender_email": "aysel@example.com", "friend_email": "leyla@example.org",
         "article_id": "karabakh"}


def test_a_repeat_gets_the_earlier_job(redis_client: redis.Redis) -> None:
    window = RepeatWindow(redis_client, 600)
    assert window.earlier_job(SHARE, "job-1", client_id="1.1.1.1") is None
    shouted = {**SHARE, "sender_email": "AYSEL@example.com"}
    assert window.earlier_job(shouted, "job-2", client_id="2.2.2.2") == "job-1"
    other = {**SHARE, "friend_email": "someone@example.org"}
    assert window.earlier_job(other, "job-3", client_id="1.1.1.1") is None


def test_an_idempotency_key_is_per_client(redis_client: redis.Redis) -> None:
    window = RepeatWindow(redis_client, 600)
    other = {**SHARE, "friend_email": "someone@example.org"}
    assert window.earlier_job(SHARE, "job-1", client_id="a", idempotency_key="k") is None
    assert window.earlier_job(other, "job-2", client_id="a", idempotency_key="k") == "job-1"
    third = {**SHARE, "article_id": "other"}
    assert window.earlier_job(third, "job-3", client_id="b", idempotency_key="k") is None


def test_a_released_claim_lets_the_next_one_go(redis_client: redis.Redis) -> None:
    window = RepeatWindow(redis_client, 600)
    assert window.earlier_job(SHARE, "job-1", client_id="a") is None
    window.release_claim(SHARE, client_id="a")
    assert window.earlier_job(SHARE, "job-2", client_id="a") is None
    assert all(0 < redis_client.ttl(k) <= 600 for k in redis_client.keys("mailer:share:*"))


def test_a_window_of_zero_checks_nothing(redis_client: redis.Redis) -> None:
    window = RepeatWindow(redis_client, 0)
    assert window.earlier_job(SHARE, "job-1", client_id="a") is None
    assert window.earlier_job(SHARE, "job-2", client_id="a") is None
    assert redis_client.keys("mailer:share:*") == []
