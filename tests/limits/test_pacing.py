"""Which buckets a message needs, and the lanes: in-process buckets, recorded sleeps."""

from __future__ import annotations

import pytest

from mailer.errors import Throttled
from mailer.limits.buckets import MemoryBuckets
from mailer.limits.pacing import Pacer, PacingPolicy
from mailer.limits.parsing import Rate


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(round(seconds, 2))


def pacer(**policy: object) -> tuple[Pacer, Sleeps]:
    sleeps = Sleeps()
    return Pacer(MemoryBuckets(), PacingPolicy(**policy), sleep=sleeps), sleeps  # type: ignore[arg-type]


def test_no_limits_no_waiting() -> None:
    p, sleeps = pacer()
    for _ in range(100):
        p.admit("relay", None, "bulk", "a@example.org")
    assert sleeps == []


def test_relay_rate_spaces_messages() -> None:
    p, sleeps = pacer(share_lane_reserve=0)
    for _ in range(4):
        p.admit("relay", Rate(10), "bulk", "a@example.org")
    assert sleeps == pytest.approx([0.1, 0.2, 0.3], abs=0.02)


def test_bulk_lane_runs_below_the_reserved_share() -> None:
    p, sleeps = pacer(share_lane_reserve=0.5, bulk_max_wait=10)
    for _ in range(3):
        p.admit("relay", Rate(10), "bulk", "a@example.org")
    assert sleeps == pytest.approx([0.2, 0.4], abs=0.02), "bulk gets 5 of the 10/s"


def test_digests_book_ahead_only_up_to_their_max_wait_shares_further() -> None:
    """However many digest workers there are, they hold the relay's slots at most
    `bulk_max_wait` ahead; a share may wait longer, so it always gets in after them."""
    p, sleeps = pacer(share_lane_reserve=0.5, bulk_max_wait=0.25, share_max_wait=5)
    p.admit("relay", Rate(10), "bulk", "a@example.org")
    p.admit("relay", Rate(10), "bulk", "a@example.org")
    with pytest.raises(Throttled):
        p.admit("relay", Rate(10), "bulk", "a@example.org")
    p.admit("relay", Rate(10), "share", "b@example.org")
    assert sleeps == pytest.approx([0.2, 0.3], abs=0.02)


def test_domain_limits_with_overrides() -> None:
    p, sleeps = pacer(domain_default=Rate(100), domains={"slow.example": Rate(2)})
    for to in ("a@slow.example", "b@fast.example", "c@Slow.Example", "d@fast.example"):
        p.admit("relay", None, "share", to)
    assert sleeps == pytest.approx([0.5, 0.01], abs=0.02)


def test_a_slot_too_far_away_is_throttled_with_its_scope() -> None:
    p, _ = pacer(share_lane_reserve=0, bulk_max_wait=0.3, domains={"slow.example": Rate(1)})
    p.admit("relay", Rate(100), "bulk", "a@slow.example")
    with pytest.raises(Throttled) as domain:
        p.admit("relay", Rate(100), "bulk", "b@slow.example")
    assert domain.value.scope == "domain" and domain.value.retry_after == pytest.approx(0.7,
                                                                                          abs=0.05)
    p2, _ = pacer(share_lane_reserve=0, bulk_max_wait=0.3)
    p2.admit("relay", Rate(1), "bulk", "a@example.org")
    with pytest.raises(Throttled) as relay:
        p2.admit("relay", Rate(1), "bulk", "b@example.org")
    assert relay.value.scope == "relay"
    assert "next slot in 0.7 s" in str(relay.value)


def test_redis_away_holds_messages_back_instead_of_sending_unpaced() -> None:
    import redis

    from mailer.limits.buckets import RedisBuckets
    from mailer.local.embedded import free_port

    gone = RedisBuckets(redis.Redis(port=free_port(), socket_connect_timeout=0.2))
    p = Pacer(gone, PacingPolicy())
    with pytest.raises(Throttled) as held:
        p.admit("relay", Rate(10), "share", "a@example.org")
    assert held.value.scope == "relay" and held.value.retry_after == 5.0
    assert "rate limits unavailable" in str(held.value)
