"""One contract for both bucket stores: in memory and in a real Redis server."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from mailer.errors import ServiceUnavailable
from mailer.limits.buckets import Buckets, MemoryBuckets, RedisBuckets


@pytest.fixture(params=["memory", "redis"])
def buckets(request: pytest.FixtureRequest) -> Iterator[Buckets]:
    if request.param == "memory":
        yield MemoryBuckets()
    else:
        client: redis.Redis = request.getfixturevalue("redis_client")
        yield RedisBuckets(client)


def test_slots_are_spaced_by_the_interval(buckets: Buckets) -> None:
    waits = [buckets.reserve([("relay:a", 0.1)], max_wait=5).wait for _ in range(5)]
    assert waits[0] == 0
    for earlier, later in itertools.pairwise(waits):
        assert later - earlier == pytest.approx(0.1, abs=0.01)


def test_a_slot_beyond_max_wait_is_refused_and_not_taken(buckets: Buckets) -> None:
    assert buckets.reserve([("relay:a", 1.0)], max_wait=0.5).ok
    refused = buckets.reserve([("relay:a", 1.0)], max_wait=0.5)
    assert not refused.ok and refused.refused_index == 0
    assert refused.wait == pytest.approx(0.5, abs=0.05)
    # The refusal reserved nothing: a caller willing to wait gets the very next slot.
    assert buckets.reserve([("relay:a", 1.0)], max_wait=5).wait == pytest.approx(1.0, abs=0.05)


def test_several_buckets_all_or_nothing(buckets: Buckets) -> None:
    buckets.reserve([("domain:slow", 1.0)], max_wait=5)
    refused = buckets.reserve([("relay:a", 0.01), ("domain:slow", 1.0)], max_wait=0.5)
    assert not refused.ok and refused.refused_index == 1
    assert buckets.reserve([("relay:a", 0.01)], max_wait=0.5).wait == 0, "relay untouched"
    got = buckets.reserve([("relay:a", 0.01), ("domain:slow", 1.0)], max_wait=5)
    assert got.ok and got.wait == pytest.approx(1.0, abs=0.05), "goes at the latest slot"


def test_idle_bucket_does_not_bank_a_burst(buckets: Buckets) -> None:
    buckets.reserve([("relay:a", 0.05)], max_wait=5)
    time.sleep(0.3)
    waits = [buckets.reserve([("relay:a", 0.05)], max_wait=5).wait for _ in range(3)]
    assert waits[0] == 0 and waits[1] == pytest.approx(0.05, abs=0.01)


def test_concurrent_reservations_never_share_a_slot(buckets: Buckets) -> None:
    """60 racing reservations push the bucket 60 intervals ahead: a lost update (two
    callers given one slot) would leave it at 59 or fewer."""
    start = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: buckets.reserve([("relay:a", 0.05)], 10),
                                range(60)))
    assert all(r.ok for r in results)
    following = buckets.reserve([("relay:a", 0.05)], 10).wait
    # The bucket's first slot is taken when the first thread gets to Redis, at or after
    # `start` (on a loaded machine up to a few hundred ms after): so the sum may run
    # over 60 intervals by that delay, but one lost update takes a whole interval off.
    reached = following + (time.monotonic() - start)
    assert 60 * 0.05 - 0.03 <= reached <= 60 * 0.05 + 0.5


def test_reset_frees_the_bucket(buckets: Buckets) -> None:
    buckets.reserve([("relay:a", 10.0)], max_wait=5)
    buckets.reset("relay:a")
    assert buckets.reserve([("relay:a", 10.0)], max_wait=0).ok


def test_redis_away_is_service_unavailable() -> None:
    from mailer.local.embedded import free_port

    gone = RedisBuckets(redis.Redis(port=free_port(), socket_connect_timeout=0.5))
    with pytest.raises(ServiceUnavailable, match="rate limits unavailable"):
        gone.reserve([("relay:a", 0.1)], max_wait=1)


def test_redis_keys_expire_once_idle(redis_client: redis.Redis) -> None:
    RedisBuckets(redis_client).reserve([("relay:a", 0.5)], max_wait=1)
    ttl = redis_client.pttl("mailer:rate:relay:a")
    assert 0 < ttl <= 1500
