"""One e-mail per share, however often it is posted: an identical share (same sender,
friend and article) within the window, or a repeated `Idempotency-Key`, answers with
the earlier request's job instead of sending again. A browser refresh, a double click
and a client's retry after a timeout all meet here.

Redis keys (expire after the window):
  mailer:share:once:<sha256 of sender, friend, article>    -> the earlier job's id
  mailer:share:key:<sha256 of client, Idempotency-Key>     -> the earlier job's id
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Mapping

import redis

from mailer.errors import ServiceUnavailable
from mailer.limits.lua import LuaBatch, LuaScript

SAME_SHARE_PREFIX = "mailer:share:once:"
IDEMPOTENCY_KEY_PREFIX = "mailer:share:key:"


_CLAIM = LuaScript("""
for _, key in ipairs(KEYS) do
  local earlier = redis.call('GET', key)
  if earlier then
    return earlier
  end
end
for _, key in ipairs(KEYS) do
  redis.call('SET', key, ARGV[1], 'EX', ARGV[2])
end
return false
""")


class RepeatWindow:
    def __init__(self, client: redis.Redis, window_seconds: int) -> None:
        self._redis = client
        self._window = window_seconds
        self._batch = LuaBatch(client)

    async def earlier_job(self, share: Mapping[str, str], job_id: str, *, client_id: str,
                          idempotency_key: str | None = None) -> str | None:
        """None when this request is the first of its kind (its job goes ahead, and is
        now what the others get); else the earlier request's job id. One script, so
        both keys are looked at and taken at once; sent with the checks of the other
        requests of the same turn of the event loop (`LuaBatch`)."""
        keys = self._keys(share, client_id, idempotency_key)
        if not keys:
            return None
        try:
            found = await self._batch.run(_CLAIM, keys, [job_id, self._window])
        except redis.RedisError as exc:
            raise ServiceUnavailable(f"repeat check unavailable (Redis): {exc}") from None
        return found.decode() if isinstance(found, bytes) else found

    def release_claim(self, share: Mapping[str, str], *, client_id: str,
                      idempotency_key: str | None = None) -> None:
        """After the first request failed to record its job: the next one goes ahead."""
        keys = self._keys(share, client_id, idempotency_key)
        if keys:
            with contextlib.suppress(redis.RedisError):  # the keys expire anyway
                self._redis.delete(*keys)

    def _keys(self, share: Mapping[str, str], client_id: str,
              idempotency_key: str | None) -> list[str]:
        if self._window <= 0:
            return []
        same = "\0".join([share["sender_email"].lower(), share["friend_email"].lower(),
                          share["article_id"]])
        keys = [f"{SAME_SHARE_PREFIX}{_digest(same)}"]
        if idempotency_key:
            keys.append(f"{IDEMPOTENCY_KEY_PREFIX}"
                        f"{_digest(client_id + chr(0) + idempotency_key)}")
        return keys


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
