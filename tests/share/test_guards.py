"""The share form's flood control on a real Redis: what it counts, and that it keeps no
address to count it."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis

from mailer.config import Settings
from mailer.errors import RateLimited
from mailer.share.guards import ShareGuards
from mailer.share.request import validate_share
from tests.web.test_app import FORM


def test_addresses_are_not_stored_in_redis(redis_client: redis.Redis,
                                           make_settings: Callable[..., Settings]) -> None:
    ShareGuards(redis_client, make_settings()).check(validate_share(FORM), "1.1.1.1")
    keys = [k.decode() for k in redis_client.keys("mailer:flood:*")]
    assert len(keys) == 5 and not any("example" in k for k in keys)


def test_a_friend_is_counted_across_senders_and_networks(
        redis_client: redis.Redis, make_settings: Callable[..., Settings]) -> None:
    guards = ShareGuards(redis_client, make_settings(share_limit_per_recipient="2/h"))
    for sender, ip in (("a@example.com", "1.1.1.1"), ("b@example.com", "2.2.2.2")):
        guards.check(validate_share({**FORM, "sender_email": sender}), ip)
    with pytest.raises(RateLimited, match="This friend has been sent enough articles"):
        guards.check(validate_share({**FORM, "sender_email": "c@example.com"}), "3.3.3.3")
