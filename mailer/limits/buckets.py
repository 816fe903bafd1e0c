"""Send-rate limits shared by every worker on every machine.

Each limit is a bucket kept by GCRA (the generic cell rate algorithm): one number per
bucket, the "theoretical arrival time" (TAT) of the next message. A sender *reserves*
a slot: it learns how long to wait for it, sleeps that long, then sends. Reservations
are atomic across any number of processes, so N workers together send at the
configured rate, evenly spaced, with no busy-looping; a slot further away than the
caller's `max_wait` is refused, and the caller hands its work back to the queue.

A message may need several buckets at once (its relay, the bulk lane of that relay,
its recipient's domain): one reservation covers all of them or none, and the message
goes at the latest of their slots.

Redis keys (RedisBuckets), all holding the TAT in microseconds of Redis' own clock
(so machines with skewed clocks agree), each expiring once idle:

    mailer:rate:relay:<relay id>        every message through that relay
    mailer:rate:relay:<relay id>:bulk   digests through that relay (the share of the
                                        rate not reserved for transactional mail)
    mailer:rate:domain:<domain>         every message to that recipient domain

MemoryBuckets implements the same contract inside one process, for tests and tools.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import redis

from mailer.errors import ServiceUnavailable
from mailer.limits.lua import LuaScript

RATE_KEY_PREFIX = "mailer:rate:"


@dataclass(frozen=True)
class Reservation:
    ok: bool
    wait: float  # ok: seconds until the slot; refused: seconds until one might be free
    refused_index: int = -1  # the index of the bucket that refused, when not ok


class Buckets(Protocol):
    def reserve(self, buckets: Sequence[tuple[str, float]], max_wait: float) -> Reservation:
        """Reserve one slot in each (key, interval seconds) bucket, or none at all."""
        ...

    def reset(self, key: str) -> None: ...

    def peek(self, keys: Sequence[str]) -> list[float]:
        """Seconds until each bucket's next free slot (0 when free), without reserving."""
        ...


_RESERVE = """
redis.replicate_commands()
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local max_wait = tonumber(ARGV[1])
local tats = {}
local send = now
for i, key in ipairs(KEYS) do
  local tat = tonumber(redis.call('GET', key) or '0')
  if tat < now then tat = now end
  if tat - now > max_wait then
    return {0, tat - now - max_wait, i - 1}
  end
  tats[i] = tat
  if tat > send then send = tat end
end
for i, key in ipairs(KEYS) do
  local tat = tats[i]
  if tat < send then tat = send end
  tat = tat + tonumber(ARGV[i + 1])
  redis.call('SET', key, tat, 'PX', math.ceil((tat - now) / 1000) + 1000)
end
return {1, send - now, -1}
"""


_RESERVE_SCRIPT = LuaScript(_RESERVE)


class RedisBuckets:
    """The buckets in Redis, reserved by one Lua script: one round trip a message."""

    def __init__(self, client: redis.Redis) -> None:
        self._client = client

    def reserve(self, buckets: Sequence[tuple[str, float]], max_wait: float) -> Reservation:
        if not buckets:
            return Reservation(True, 0.0)
        args = [math.floor(max_wait * 1e6),
                *(max(1, round(interval * 1e6)) for _, interval in buckets)]
        try:
            ok, wait_us, refused = _RESERVE_SCRIPT.run(
                self._client, [RATE_KEY_PREFIX + key for key, _ in buckets], args)
        except redis.RedisError as exc:
            raise ServiceUnavailable(f"rate limits unavailable (Redis): {exc}") from None
        return Reservation(bool(ok), int(wait_us) / 1e6, int(refused))

    def reset(self, key: str) -> None:
        try:
            self._client.delete(RATE_KEY_PREFIX + key)
        except redis.RedisError as exc:
            raise ServiceUnavailable(f"rate limits unavailable (Redis): {exc}") from None

    def peek(self, keys: Sequence[str]) -> list[float]:
        """Seconds until each bucket's next free slot (0 when free), without reserving."""
        try:
            with self._client.pipeline(transaction=False) as pipe:
                pipe.time()
                pipe.mget([RATE_KEY_PREFIX + key for key in keys])
                (sec, usec), values = pipe.execute()
        except redis.RedisError as exc:
            raise ServiceUnavailable(f"rate limits unavailable (Redis): {exc}") from None
        now = sec * 1_000_000 + usec
        return [max(0.0, (int(v) - now) / 1e6) if v else 0.0 for v in values]


class MemoryBuckets:
    """The same contract in one process (a lock and a dict): for tests and tools."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tats: dict[str, float] = {}

    def reserve(self, buckets: Sequence[tuple[str, float]], max_wait: float) -> Reservation:
        with self._lock:
            now = time.monotonic()
            tats = [max(self._tats.get(key, now), now) for key, _ in buckets]
            for index, tat in enumerate(tats):
                if tat - now > max_wait:
                    return Reservation(False, tat - now - max_wait, index)
            send = max([now, *tats])
            for (key, interval), tat in zip(buckets, tats, strict=True):
                self._tats[key] = max(tat, send) + interval
            return Reservation(True, send - now)

    def reset(self, key: str) -> None:
        with self._lock:
            self._tats.pop(key, None)

    def peek(self, keys: Sequence[str]) -> list[float]:
        with self._lock:
            now = time.monotonic()
            return [max(0.0, self._tats.get(key, now) - now) for key in keys]

