"""Relay health, shared by every worker on every machine (Redis): a relay that refused
us for its configuration (authentication, relaying or access denied) or could not be
reached is unhealthy until a message goes through it again. `mailer status`, /ops,
/readyz and the `mailer_relay_healthy` metric read it.

Redis key: `mailer:relays:health`, a hash of relay id -> JSON `{"reason", "since"}`;
only unhealthy relays are in it. The first reason and time are kept until the relay
is healthy again. `mailer:relays:answered`, a hash of relay id -> Unix time a message
last went through it (at most every REFRESH_SECONDS per worker): a relay never in it
has not been tried yet, and is "unknown" rather than "healthy".
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass

import redis

KEY = "mailer:relays:health"
ANSWERED_KEY = "mailer:relays:answered"
# A worker that keeps sending through a healthy relay says so at most this often: the
# mark another worker set clears within this long of the relay's recovery.
REFRESH_SECONDS = 10.0


@dataclass(frozen=True)
class RelayProblem:
    relay: str
    reason: str
    since: float  # Unix time of the first refusal


class RelayHealth:
    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self._cleared: dict[str, float] = {}  # relay -> when this process last cleared it

    def mark_down(self, relay: str, reason: str) -> None:
        """Advisory: a Redis error here must not fail a send, so it is swallowed."""
        self._cleared.pop(relay, None)
        value = json.dumps({"reason": reason[:300], "since": time.time()})
        with contextlib.suppress(redis.RedisError):
            self._client.hsetnx(KEY, relay, value)

    def mark_up(self, relay: str) -> None:
        now = time.monotonic()
        if now - self._cleared.get(relay, -REFRESH_SECONDS) < REFRESH_SECONDS:
            return
        try:
            with self._client.pipeline(transaction=False) as pipe:
                pipe.hdel(KEY, relay)
                pipe.hset(ANSWERED_KEY, relay, str(time.time()))
                pipe.execute()
        except redis.RedisError:
            return
        self._cleared[relay] = now

    def problems(self) -> list[RelayProblem]:
        """Raises redis.RedisError: the callers report Redis being away themselves."""
        found = []
        for relay, raw in sorted(self._client.hgetall(KEY).items()):
            name = relay.decode() if isinstance(relay, bytes) else str(relay)
            try:
                value = json.loads(raw)
                found.append(RelayProblem(name, str(value["reason"]), float(value["since"])))
            except (ValueError, KeyError, TypeError):
                found.append(RelayProblem(name, "unreadable health record", 0.0))
        return found

    def answered(self) -> set[str]:
        """The relays that took a message at least once; raises redis.RedisError."""
        return {r.decode() if isinstance(r, bytes) else str(r)
                for r in self._client.hkeys(ANSWERED_KEY)}
