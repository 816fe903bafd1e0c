"""Delivery metrics recorded in Redis by every worker, so the counts are right with any
number of worker processes on any number of machines (prometheus-client's multiprocess
mode covers one machine only); mailer/ops/metrics.py reads them for `GET /metrics`.

Redis keys:

    mailer:metrics:messages          hash  "<kind>|<outcome>" -> messages
    mailer:metrics:hist:<name>       hash  "<bucket upper bound>" -> observations in it,
                                           "+Inf", "sum", "count"
    mailer:metrics:minute:<minute>   hash  "<kind>|<outcome>" -> messages that had that
                                           outcome (sent, deferred, failed) in that minute
                                           (Unix time // 60); expires after two hours

Workers buffer what they observe and write it in one pipeline per message (shares)
or per ledger commit (digest batches).
"""

from __future__ import annotations

import bisect
import logging
import time
from collections import Counter

import redis

KEY_PREFIX = "mailer:metrics:"
MESSAGES = KEY_PREFIX + "messages"
# Every outcome a message can have (verdict.Verdict.outcome, and `suppressed`): the
# exposition lists each kind with each, from 0, since a counter that appears only at
# its first increment hides that increment from rate() and the alerts built on it.
OUTCOMES = ("sent", "deferred", "failed", "suppressed", "throttled")
CHARTED = ("sent", "deferred", "failed")  # per minute, for the ops page's chart
MINUTE_PREFIX = KEY_PREFIX + "minute:"
HISTOGRAMS: dict[str, tuple[str, tuple[float, ...]]] = {
    "smtp_seconds": ("Time from a message going out to the relay's reply",
                     (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)),
    "render_seconds": ("Time to render and build one share or confirmation, or one digest "
                       "variant", (0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                   0.1, 0.25, 1)),
    "delivery_seconds": ("Time from queuing (or planning) a message to its final outcome",
                         (0.1, 0.5, 1, 2.5, 5, 15, 60, 300, 900, 3600, 14400, 86400)),
}
# Each histogram's bucket fields, by the index bisect finds: its bounds, then "+Inf".
_BUCKET_FIELDS = {name: (*map(repr, bounds), "+Inf") for name, (_, bounds) in HISTOGRAMS.items()}
log = logging.getLogger("mailer.delivery.recorder")


class MetricsRecorder:
    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self._messages: Counter[str] = Counter()
        self._buckets: dict[str, Counter[str]] = {name: Counter() for name in HISTOGRAMS}
        self._sums: dict[str, float] = {}
        self._minutes: Counter[tuple[int, str]] = Counter()

    def message(self, kind: str, outcome: str) -> None:
        self._messages[f"{kind}|{outcome}"] += 1
        if outcome in CHARTED:
            self._minutes[(int(time.time() // 60), f"{kind}|{outcome}")] += 1

    def observe(self, name: str, seconds: float) -> None:
        index = bisect.bisect_left(HISTOGRAMS[name][1], seconds)
        buckets = self._buckets[name]
        buckets[_BUCKET_FIELDS[name][index]] += 1
        buckets["count"] += 1
        self._sums[name] = self._sums.get(name, 0.0) + seconds

    def flush(self) -> None:
        """Write what was observed; a Redis that does not answer costs the figures, never
        the delivery (logged)."""
        if not self._messages and not self._sums and not any(self._buckets.values()):
            return
        try:
            with self._client.pipeline(transaction=False) as pipe:
                for field, n in self._messages.items():
                    pipe.hincrby(MESSAGES, field, n)
                for name, buckets in self._buckets.items():
                    key = f"{KEY_PREFIX}hist:{name}"
                    for field, n in buckets.items():
                        pipe.hincrby(key, field, n)
                    if self._sums.get(name):
                        pipe.hincrbyfloat(key, "sum", self._sums[name])
                for (minute, kind), n in self._minutes.items():
                    pipe.hincrby(f"{MINUTE_PREFIX}{minute}", kind, n)
                    pipe.expire(f"{MINUTE_PREFIX}{minute}", 7200)
                pipe.execute()
        except redis.RedisError as exc:
            log.warning("metrics not recorded: %s", exc)
        self._messages.clear()
        self._sums.clear()
        self._minutes.clear()
        for buckets in self._buckets.values():
            buckets.clear()
