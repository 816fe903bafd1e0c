"""Running the limits' Lua scripts in Redis (send-rate buckets, flood counters, the
share repeat window): EVALSHA, and the script loaded on the first NOSCRIPT (a new or
restarted Redis has none). By hand rather than redis-py's `Script`, whose wrapper
costs a third of the call on the send path; `LuaBatch` for requests on an event loop."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
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


class LuaBatch:
    """Scripts run by the coroutines of one turn of an event loop, sent to Redis
    together at the end of the next turn, in one pipeline (as the API's group commit
    records them): under load a request's check costs a share of one round trip, not
    one of its own (redis-py's CPU for a command was a tenth of a share request's)."""

    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self._pending: dict[asyncio.AbstractEventLoop, list[_Run]] = {}

    async def run(self, script: LuaScript, keys: Sequence[str], args: Sequence[object]) -> Any:
        """Raises redis.RedisError as `LuaScript.run` does."""
        loop = asyncio.get_running_loop()
        pending = self._pending.get(loop)
        if pending is None:
            pending = self._pending[loop] = []
            loop.call_soon(loop.call_soon, self._flush, loop)
        run = _Run(script, keys, args, loop.create_future())
        pending.append(run)
        return await run.done

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        batch = self._pending.pop(loop)
        try:
            results = self._execute(batch)
            missing = [i for i, result in enumerate(results) if isinstance(result, NoScriptError)]
            if missing:  # a new or restarted Redis: load them, run those again
                for script in {batch[i].script.sha: batch[i].script for i in missing}.values():
                    self._client.script_load(script.source)
                for i, result in zip(missing, self._execute([batch[i] for i in missing]),
                                     strict=True):
                    results[i] = result
        except redis.RedisError as exc:
            results = [exc] * len(batch)
        for run, result in zip(batch, results, strict=True):
            if run.done.done():  # the request was cancelled
                continue
            if isinstance(result, Exception):
                run.done.set_exception(result)
            else:
                run.done.set_result(result)

    def _execute(self, batch: Sequence[_Run]) -> list[Any]:
        pipe = self._client.pipeline(transaction=False)
        for run in batch:
            pipe.execute_command("EVALSHA", run.script.sha, len(run.keys), *run.keys, *run.args)
        return list(pipe.execute(raise_on_error=False))


@dataclass(frozen=True)
class _Run:
    script: LuaScript
    keys: Sequence[str]
    args: Sequence[object]
    done: asyncio.Future[Any]
