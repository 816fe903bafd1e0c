"""`GET /metrics` and the ops page's chart: what the workers record in Redis
(mailer/delivery/recorder.py, where the keys are described), queue depths from the
broker, and relay health."""


from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

import redis
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.registry import Collector

from mailer.delivery.ledger import JobStatus, Kind
from mailer.delivery.recorder import HISTOGRAMS, KEY_PREFIX, MESSAGES, MINUTE_PREFIX, OUTCOMES
from mailer.digest.runs import RUN_STATES
from mailer.errors import MailerError
from mailer.models import utcnow
from mailer.ops.newsroom_metrics import newsroom_metrics
from mailer.queue import LANES, JobQueue
from mailer.sending.relay_health import RelayHealth

if TYPE_CHECKING:
    from mailer.stores import Stores


def per_minute(client: redis.Redis, minutes: int = 60, now: float | None = None
               ) -> list[tuple[int, dict[str, int]]]:
    """(Unix minute, {"<kind>|<outcome>": messages}) for the last `minutes` minutes,
    oldest first. A field holding only a kind (written before outcomes were charted)
    counts as sent."""
    last = int((now or time.time()) // 60)
    span = range(last - minutes + 1, last + 1)
    with client.pipeline(transaction=False) as pipe:
        for minute in span:
            pipe.hgetall(f"{MINUTE_PREFIX}{minute}")
        found = pipe.execute()
    return [(minute, {(_text(k) if "|" in _text(k) else f"{_text(k)}|sent"): int(v)
                      for k, v in fields.items()})
            for minute, fields in zip(span, found, strict=True)]


def quantiles(client: redis.Redis, name: str, wanted: Sequence[float]
              ) -> tuple[int, list[float | None]]:
    """(observations, the `wanted` quantiles) of a histogram the workers keep, since its
    counters began, interpolated within buckets as Prometheus' histogram_quantile does;
    None where nothing was observed, or the quantile lies past the last bound."""
    bounds = HISTOGRAMS[name][1]
    stored = {_text(k): float(v) for k, v in client.hgetall(f"{KEY_PREFIX}hist:{name}").items()}
    total = int(stored.get("count", 0))
    found: list[float | None] = []
    for q in wanted:
        rank, below, lower = q * total, 0.0, 0.0
        value: float | None = None
        for bound in bounds:
            inside = stored.get(repr(bound), 0.0)
            if total and below + inside >= rank:
                value = lower + (bound - lower) * ((rank - below) / inside if inside else 0)
                break
            below, lower = below + inside, bound
        found.append(value)
    return total, found


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisCollector(Collector):
    def __init__(self, client: redis.Redis, relays: Sequence[str] = ()) -> None:
        self._client = client
        self._relays = relays

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily |
                                  HistogramMetricFamily]:
        messages = CounterMetricFamily("mailer_messages", "Delivery outcomes by kind",
                                       labels=["kind", "outcome"])
        counts = {f"{kind.value}|{outcome}": 0 for kind in Kind for outcome in OUTCOMES}
        counts.update({_text(k): int(n) for k, n in self._client.hgetall(MESSAGES).items()})
        for field, n in sorted(counts.items()):
            kind, _, outcome = field.partition("|")
            messages.add_metric([kind, outcome], n)
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
        healthy = GaugeMetricFamily("mailer_relay_healthy",
                                    "1 while the relay takes our mail, 0 once it refused us "
                                    "(configuration) or could not be reached", labels=["relay"])
        down = {p.relay for p in RelayHealth(self._client).problems()}
        for relay in self._relays:
            healthy.add_metric([relay], 0 if relay in down else 1)
        yield healthy


class ServiceCollector(Collector):
    """What only the database and the broker know, read at each scrape: each lane's
    waiting jobs and the age of its oldest (Redis brokers only: RabbitMQ cannot tell
    without taking the message, so the series is left out rather than made up), workers
    on each queue (a ping, `timeout` seconds), digest runs by state, digests that wait
    too long or missed their window. The API serves these; any number of API processes
    give the same figures; then each newsletter's readers and the latest alerts' times
    (ops/newsroom_metrics.py). A broker that does not answer makes the scrape fail
    (503), as Redis does."""

    def __init__(self, stores: Stores, queue: JobQueue, queues: Sequence[str] = LANES,
                 timeout: float = 0.5) -> None:
        self._stores = stores
        self._queue = queue
        self._queues = queues
        self._timeout = timeout

    def collect(self) -> Iterator[GaugeMetricFamily]:
        depth = GaugeMetricFamily("mailer_queue_depth", "Jobs waiting in the broker queue",
                                  labels=["queue"])
        age = GaugeMetricFamily("mailer_queue_oldest_seconds",
                                "Age of the oldest waiting job (Redis brokers only)",
                                labels=["queue"])
        for backlog in self._queue.backlog(self._queues):
            depth.add_metric([backlog.queue], backlog.waiting)
            if backlog.oldest_seconds is not None:
                age.add_metric([backlog.queue], backlog.oldest_seconds)
        yield depth
        yield age
        consumers = GaugeMetricFamily("mailer_queue_consumers",
                                      "Workers consuming the queue (those that answered a "
                                      "ping)", labels=["queue"])
        try:
            workers = self._queue.worker_queues(self._timeout)
        except MailerError:
            workers = {}
        for name in self._queues:
            consumers.add_metric([name], sum(name in qs for qs in workers.values()))
        yield consumers
        runs = GaugeMetricFamily("mailer_digest_runs", "The last 20 digest runs by state",
                                 labels=["state"])
        states = Counter(p.state for p in self._stores.runs.progress(20))
        for state in RUN_STATES:
            runs.add_metric([state], states.get(state, 0))
        yield runs
        now = utcnow()
        oldest = self._stores.ledger.oldest_unfinished(Kind.DIGEST)
        yield GaugeMetricFamily("mailer_digest_oldest_unsent_seconds",
                                "Age of the oldest digest still waiting to go out (0: none)",
                                value=(now - oldest).total_seconds() if oldest else 0.0)
        expired = self._stores.ledger.outcome_counts(now - timedelta(hours=1),
                                                     [JobStatus.EXPIRED])
        yield GaugeMetricFamily("mailer_digests_expired_last_hour",
                                "Digests given up in the last hour: not sent within their "
                                "window", value=expired.get(Kind.DIGEST, {}).get("expired", 0))
        yield from newsroom_metrics(self._stores)
