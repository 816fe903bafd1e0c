"""Which send-rate buckets a message needs, and waiting for its slot.

Two lanes share each relay. Transactional mail (the share lane: shares,
confirmations; a reader is waiting) takes a slot from the relay's bucket only. Bulk
mail (digests) also needs a slot from the relay's bulk bucket, which runs at
(1 - share_lane_reserve) of the relay's rate, so the reserved part of the rate is
always free for transactional mail however large the digest; and bulk mail gives up
sooner (`bulk_max_wait`), so it never queues far ahead of a share.

Pacing asks only for a message's recipient address: it sits below the sending code
and knows nothing of envelopes. Its buckets are `relay:<relay id>`,
`relay:<relay id>:bulk` and `domain:<domain>` in `mailer.limits.buckets`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from mailer.errors import ServiceUnavailable, Throttled
from mailer.limits.buckets import Buckets
from mailer.limits.parsing import Rate

Lane = Literal["share", "bulk"]
UNAVAILABLE_RETRY_SECONDS = 5.0  # when Redis does not answer
LANES: tuple[Lane, ...] = ("share", "bulk")


@dataclass(frozen=True)
class PacingPolicy:
    domain_default: Rate | None = None
    domains: Mapping[str, Rate | None] = field(default_factory=dict)
    share_lane_reserve: float = 0.1  # of each relay's rate, kept from bulk mail
    share_max_wait: float = 10.0
    bulk_max_wait: float = 2.0

    def domain_rate(self, domain: str) -> Rate | None:
        return self.domains.get(domain, self.domain_default)


def relay_bucket_key(relay_id: str) -> str:
    return f"relay:{relay_id}"


def recipient_domain(address: str) -> str:
    return address.rpartition("@")[2].lower()


class Pacer:
    def __init__(self, buckets: Buckets, policy: PacingPolicy,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.buckets = buckets
        self.policy = policy
        self._sleep = sleep
        self._needed: dict[tuple[str, Rate | None, Lane, str],
                           tuple[list[tuple[str, float]], list[str]]] = {}

    def buckets_for(self, relay_id: str, relay_rate: Rate | None, lane: Lane,
                    recipient: str) -> list[tuple[str, float, str]]:
        """(key, interval, scope) for each limit this message is under."""
        found: list[tuple[str, float, str]] = []
        if relay_rate is not None:
            found.append((relay_bucket_key(relay_id), relay_rate.interval, "relay"))
            if lane == "bulk" and self.policy.share_lane_reserve > 0:
                bulk = relay_rate.per_second * (1 - self.policy.share_lane_reserve)
                found.append((relay_bucket_key(relay_id) + ":bulk", 1 / bulk, "relay"))
        domain = recipient_domain(recipient)
        rate = self.policy.domain_rate(domain)
        if rate is not None:
            found.append((f"domain:{domain}", rate.interval, "domain"))
        return found

    def admit(self, relay_id: str, relay_rate: Rate | None, lane: Lane,
              recipient: str) -> None:
        """Wait for the slot of a message to `recipient`; raise Throttled when it is
        further away than the lane may wait (the caller hands the message back to the
        queue)."""
        domain = recipient_domain(recipient)
        cache_key = (relay_id, relay_rate, lane, domain)
        found = self._needed.get(cache_key)
        if found is None:
            if len(self._needed) > 10_000:
                self._needed.clear()
            needed = self.buckets_for(relay_id, relay_rate, lane, recipient)
            found = ([(key, interval) for key, interval, _ in needed],
                     [scope for _, _, scope in needed])
            self._needed[cache_key] = found
        buckets, scopes = found
        if not buckets:
            return
        max_wait = self.policy.share_max_wait if lane == "share" else self.policy.bulk_max_wait
        try:
            got = self.buckets.reserve(buckets, max_wait)
        except ServiceUnavailable as exc:
            # No way to know the rate: hold everything back rather than send unpaced.
            raise Throttled(UNAVAILABLE_RETRY_SECONDS, "relay", str(exc)) from None
        if not got.ok:
            raise Throttled(got.wait, scopes[got.refused_index], buckets[got.refused_index][0])
        if got.wait > 0:
            self._sleep(got.wait)

    def admitter(self, relay_id: str, relay_rate: Rate | None,
                 lane: Lane) -> Callable[[str], None] | None:
        """`admit` for one relay and lane, called with each recipient address; None when
        no limit applies to this relay at all: nothing to ask per message."""
        policy = self.policy
        if relay_rate is None and policy.domain_default is None \
                and not any(policy.domains.values()):
            return None

        def admit(recipient: str) -> None:
            self.admit(relay_id, relay_rate, lane, recipient)
        return admit
