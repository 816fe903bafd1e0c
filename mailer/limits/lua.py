"""Running the limits' Lua scripts in Redis (send-rate buckets, flood counters):
EVALSHA, and the script loaded on the first NOSCRIPT (a new or restarted Redis has
none). By hand rather than redis-py's `Script`, whose wrapper costs a third of the
call on the send path."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import redis
from redis.exceptions import NoScriptError


class LuaScript:
    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    def run(self, client: redis.Redis, keys: Sequence[str], args: Sequence[object]) -> Any:
        """Raises redis.RedisError: each caller says which service is unavailable."""
        command = ["EVALSHA", self.sha, len(keys), *keys, *args]
        try:
            return client.execute_command(*command)
        except NoScriptError:
            client.script_load(self.source)
            return client.execute_command(*command)
