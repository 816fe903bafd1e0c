"""The flood gate on a real Redis: all-or-nothing counting, and no address stored."""

from __future__ import annotations

import pytest
import redis

from mailer.errors import RateLimited
from mailer.limits.flood import FloodGate, address_key, mailbox_key
from mailer.limits.parsing import Quota

SHARE = {"article_id": "non-aligned-movement-support-to-azerbaijan-over-karabakh-significant",
         "sender_name": "Reader", "sender_email": "reader@example.com",
         "friend_name": "Friend", "friend_email": "friend@example.org"}


def test_gate_counts_all_or_nothing(redis_client: redis.Redis) -> None:
    gate = FloodGate(redis_client, "share")
    ip, to = Quota(3, 60), Quota(1, 60)
    gate.count_attempt([("ip", "1.1.1.1", ip), ("to", "victim", to)])
    with pytest.raises(RateLimited) as refused:
        gate.count_attempt([("ip", "1.1.1.1", ip), ("to", "victim", to)])
    assert str(refused.value).startswith("This friend has been sent enough articles for now")
    assert 55 < refused.value.retry_after <= 60
    assert redis_client.get("mailer:flood:share:ip:1.1.1.1") == b"1", "refused: not counted"
    gate.count_attempt([("ip", "1.1.1.1", ip), ("to", "other", to)])
    gate.count_attempt([("ip", "1.1.1.1", ip), ("to", "third", to)])
    with pytest.raises(RateLimited, match=r"Many people on your network .*: please try "
                                          r"again in [0-9]+ seconds"):
        gate.count_attempt([("ip", "1.1.1.1", ip), ("to", "fourth", to)])
    assert redis_client.pttl("mailer:flood:share:ip:1.1.1.1") > 0


def test_a_mailbox_is_counted_whatever_its_tag_or_case() -> None:
    assert mailbox_key("Victim+7@example.org") == mailbox_key("victim@example.org")
    assert mailbox_key("+only@example.org") == address_key("+only@example.org")
    assert len(address_key("victim@example.org")) == 32
