"""Flood control for the public forms: how many shares (and sign-ups) one client, one
sender, one recipient and one article may cause, and how many in all.

Every attempt that passes validation is counted at the API, before anything is queued,
in one Lua script: either every counter has room and all of them count it, or the
request is refused and none does. So 100 parallel posts from one address get exactly
the allowed number through, and an attacker over his own limit cannot use up a
victim's allowance.

Redis keys (fixed windows that start at the first attempt and expire with it):

    mailer:flood:<form>:ip:<client ip>
    mailer:flood:<form>:from:<sha256 of the sender's mailbox, 32 hex>
    mailer:flood:<form>:to:<sha256 of the recipient's mailbox, 32 hex>
    mailer:flood:signup:mail:<sha256 of the address, 32 hex>  (sign-up e-mails a day)
    mailer:flood:<form>:article:<article id>
    mailer:flood:<form>:all
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence

import redis

from mailer.errors import RateLimited, ServiceUnavailable
from mailer.limits.lua import LuaScript
from mailer.limits.parsing import Quota

FLOOD_KEY_PREFIX = "mailer:flood:"

_COUNT_ATTEMPT = """
for i, key in ipairs(KEYS) do
  local used = tonumber(redis.call('GET', key) or '0')
  if used >= tonumber(ARGV[2 * i - 1]) then
    return {i - 1, redis.call('PTTL', key)}
  end
end
for i, key in ipairs(KEYS) do
  if redis.call('INCR', key) == 1 then
    redis.call('PEXPIRE', key, ARGV[2 * i])
  end
end
return {-1, 0}
"""
_COUNT_ATTEMPT_SCRIPT = LuaScript(_COUNT_ATTEMPT)


# What each limit's refusal says to the person at the form.
REFUSALS = {
    "ip": "Many people on your network (an office's or a mobile network's, perhaps) "
          "have shared articles in the last hour, so sharing from it is paused for a while",
    "from": "Too many shares from this e-mail address",
    "to": "This friend has been sent enough articles for now",
    "article": "This article has been shared too often for now",
    "all": "Sharing is busy",
    "signup-ip": "Too many sign-ups from your network",
    "signup-mail": "Enough sign-up e-mails went to this address today",
}


def _wait_text(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, math.ceil(seconds))} seconds"
    if seconds < 5400:
        return f"{math.ceil(seconds / 60)} minutes"
    return f"{math.ceil(seconds / 3600)} hours"


def address_key(address: str) -> str:
    """Addresses are kept out of Redis: only a hash names their counter."""
    return hashlib.sha256(address.lower().encode()).hexdigest()[:32]


def mailbox_key(address: str) -> str:
    """The counter of the mailbox an address reaches: `name+tag@example.org` counts as
    `name@example.org` (sub-addressing, RFC 5233, as Gmail, Outlook, Fastmail and
    Postfix's usual recipient_delimiter treat it), so tags cannot multiply a quota."""
    local, _, domain = address.rpartition("@")
    return address_key(f"{local.split('+', 1)[0] or local}@{domain}")


class FloodGate:
    def __init__(self, client: redis.Redis, form: str) -> None:
        self._client = client
        self._form = form

    def count_attempt(self, counters: Sequence[tuple[str, str, Quota | None]]) -> None:
        """Counts one attempt against every (scope, value, quota) counter, or against
        none: raises RateLimited for the first one without room, ServiceUnavailable
        when Redis does not answer."""
        active = [(scope, value, quota) for scope, value, quota in counters
                  if quota is not None]
        if not active:
            return
        keys = [f"{FLOOD_KEY_PREFIX}{self._form}:{scope}:{value}" if value
                else f"{FLOOD_KEY_PREFIX}{self._form}:{scope}" for scope, value, _ in active]
        args: list[object] = []
        for _, _, quota in active:
            assert quota is not None
            args += [quota.count, quota.seconds * 1000]
        try:
            refused, ttl_ms = _COUNT_ATTEMPT_SCRIPT.run(self._client, keys, args)
        except redis.RedisError as exc:
            raise ServiceUnavailable(f"flood control unavailable (Redis): {exc}") from None
        if int(refused) < 0:
            return
        scope, _, quota = active[int(refused)]
        assert quota is not None
        wait = max(1.0, int(ttl_ms) / 1000) if int(ttl_ms) > 0 else float(quota.seconds)
        message = REFUSALS.get(f"{self._form}-{scope}", REFUSALS.get(scope, "Too many requests"))
        raise RateLimited(f"{message}: please try again in {_wait_text(wait)}.", wait)

    def reset(self) -> None:
        """Forget every counter of this form (for operators and tests)."""
        try:
            keys = list(self._client.scan_iter(f"{FLOOD_KEY_PREFIX}{self._form}:*", count=1000))
            if keys:
                self._client.delete(*keys)
        except redis.RedisError as exc:
            raise ServiceUnavailable(f"flood control unavailable (Redis): {exc}") from None
