"""Delivery metrics kept in Redis, so that the counts are right with any number of worker
processes on any number of machines (prometheus-client's multiprocess mode covers one
machine only); `GET /metrics` renders them for Prometheus.

Redis keys:

    mailer:metrics:messages          hash  "<kind>|<outcome>" -> messages
    mailer:metrics:hist:<name>       hash  "<bucket upper bound>" -> observations in it,
                                           "+Inf", "sum", "count"
    mailer:metrics:minute:<minute>   hash  kind -> messages sent in that minute (Unix
                                           time // 60); expires after two hours

Workers buffer what they observe and write it in one pipeline per message (shares)
or per ledger commit (digest batches).
"""

from __future__ import annotations

import bisect
import json
import logging
import time
from collections import Counter
from collections.abc import Iterator, Sequence

import redis
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.registry import Collector

from mailer.queue import DIGEST_QUEUE, SHARE_QUEUE
from mailer.sending.relay_health import RelayHealth

KEY_PREFIX = "mailer:metrics:"
MESSAGES = KEY_PREFIX + "messages"
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
log = logging.getLogger("mailer.ops.metrics")


class MetricsRecorder:
    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self._messages: Counter[str] = Counter()
        self._buckets: dict[str, Counter[str]] = {name: Counter() for name in HISTOGRAMS}
        self._sums: dict[str, float] = {}
        self._minutes: Counter[tuple[int, str]] = Counter()

    def message(self, kind: str, outcome: str) -> None:
        self._messages[f"{kind}|{outcome}"] += 1
        if outcome == "sent":
            self._minutes[(int(time.time() // 60), kind)] += 1

    def observe(self, name: str, seconds: float) -> None:
        bounds = HISTOGRAMS[name][1]
        index = bisect.bisect_left(bounds, seconds)
        self._buckets[name][repr(bounds[index]) if index < len(bounds) else "+Inf"] += 1
        self._buckets[name]["count"] += 1
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


def sent_per_minute(client: redis.Redis, minutes: int = 60,
                    now: float | None = None) -> list[tuple[int, int]]:
    """(Unix minute, messages sent) for the last `minutes` minutes, oldest first."""
    last = int((now or time.time()) // 60)
    span = range(last - minutes + 1, last + 1)
    with client.pipeline(transaction=False) as pipe:
        for minute in span:
            pipe.hvals(f"{MINUTE_PREFIX}{minute}")
        counts = pipe.execute()
    return [(minute, sum(int(v) for v in values)) for minute, values in zip(span, counts,
                                                                             strict=True)]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def oldest_age(client: redis.Redis, queue: str, now: float | None = None) -> float:
    """Seconds the oldest waiting job of `queue` has waited (0 when none): kombu pushes
    on the left and takes from the right, so the oldest is at index -1; the producer
    stamps `queued_at` in its headers."""
    raw = client.lindex(queue, -1)
    if not raw:
        return 0.0
    try:
        queued_at = float(json.loads(raw)["headers"]["queued_at"])
    except (ValueError, KeyError, TypeError):
        return 0.0
    return max(0.0, (now or time.time()) - queued_at)


class RedisCollector(Collector):
    def __init__(self, client: redis.Redis, queues: Sequence[str] = (SHARE_QUEUE, DIGEST_QUEUE),
                 relays: Sequence[str] = ()) -> None:
        self._client = client
        self._queues = queues
        self._relays = relays

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily |
                                  HistogramMetricFamily]:
        messages = CounterMetricFamily("mailer_messages", "Delivery outcomes by kind",
                                       labels=["kind", "outcome"])
        for field, n in sorted(self._client.hgetall(MESSAGES).items()):
            kind, _, outcome = _text(field).partition("|")
            messages.add_metric([kind, outcome], int(n))
        yield messages
        for name, (doc, bounds) in HISTOGRAMS.items():
            stored = {_text(k): float(v) for k, v in
                      self._client.hgetall(f"{KEY_PREFIX}hist:{name}").items()}
            running, buckets = 0.0, []
            for bound in bounds:
                running += stored.get(repr(bound), 0.0)
                buckets.append((repr(bound), running))
            buckets.append(("+Inf", stored.get("count", 0.0)))
            yield HistogramMetricFamily(f"mailer_{name}", doc, buckets=buckets,
                                        sum_value=stored.get("sum", 0.0))
        depth = GaugeMetricFamily("mailer_queue_depth", "Jobs waiting in the broker queue",
                                  labels=["queue"])
        age = GaugeMetricFamily("mailer_queue_oldest_seconds",
                                "Age of the oldest waiting job", labels=["queue"])
        now = time.time()
        for queue in self._queues:
            depth.add_metric([queue], int(self._client.llen(queue)))
            age.add_metric([queue], oldest_age(self._client, queue, now))
        yield depth
        yield age
        healthy = GaugeMetricFamily("mailer_relay_healthy",
                                    "1 while the relay takes our mail, 0 once it refused us "
                                    "(configuration) or could not be reached", labels=["relay"])
        down = {p.relay for p in RelayHealth(self._client).problems()}
        for relay in self._relays:
            healthy.add_metric([relay], 0 if relay in down else 1)
        yield healthy
