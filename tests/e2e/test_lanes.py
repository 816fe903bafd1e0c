"""Lanes that keep promises, with a digest of 150 batches under way; a share and two
jobs in the alerts lane queued behind that backlog go out after at most the batch in
hand, counted in messages the SMTP server received, not timed.

On Redis one real worker consumes every lane (as the embedded stack and a small site
run it) and takes them strictly in order (share, alerts, digest), whatever order `-Q`
names them in. RabbitMQ has no order between the queues one consumer takes (measured
here: under load a shared worker let six batches pass first), so there the test runs
a worker of its own per urgent lane beside the digest worker, as the units have
(docs/architecture.md, "Lanes and the broker")."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from mailer.delivery.ledger import JobStatus
from mailer.local.embedded import RedisServer
from mailer.queue import ALERT_QUEUE, SHARE_QUEUE, SHARE_TASK
from mailer.share.accept import ShareIntake
from tests.e2e.test_delivery_engine import ARTICLE, Stack, start_stack

READERS, BATCH = 3000, 20  # 150 batches; at 540 digests/s a batch takes ~40 ms
DB = 8  # this module's Redis database


@pytest.fixture
def lanes(tmp_path: Path, redis_server: RedisServer, broker_url: str) -> Iterator[Stack]:
    redis.Redis(port=redis_server.port, db=DB).flushdb()
    # Redis: the lanes named least urgent first on purpose, the worker sorts them.
    workers = ["digest", "alerts", "share"] if broker_url else ["digest,alerts,share"]
    for stack in start_stack(tmp_path, redis_server, DB, workers, broker_url=broker_url,
                             digest_batch_size=BATCH, rate_limit="600/s", rate_reserve=0.1):
        # Each urgent worker's first job loads templates and opens connections: done
        # before the test, as on a site that has been up for a while.
        warm = [urgent_job(stack, f"warm-{q}-{uuid.uuid4().hex[:8]}@example.net", q)
                for q in (SHARE_QUEUE, ALERT_QUEUE)]
        assert set(stack.wait_jobs(warm, timeout=60)) == {"sent"}
        yield stack


def urgent_job(stack: Stack, to: str, queue: str) -> str:
    """A share accepted as the API accepts one, its job handed to `queue`."""
    intake = ShareIntake(articles=stack.stores.articles)
    return intake.submit({"article_id": ARTICLE, "sender_name": "Aysel",
                          "sender_email": "aysel@example.com", "friend_name": "Friend",
                          "friend_email": to}, ledger=stack.stores.ledger,
                         queue=_Lane(stack, queue))


class _Lane:
    """The stack's queue, with shares sent to another lane (the alerts lane has no task
    of its own yet: a transactional job stands in for an alert)."""

    def __init__(self, stack: Stack, queue: str) -> None:
        self._stack, self._queue = stack, queue

    def enqueue(self, task: str, payload: dict[str, object], *, queue: str) -> None:
        assert (task, queue) == (SHARE_TASK, SHARE_QUEUE)
        self._stack.queue.enqueue(task, payload, queue=self._queue)


def test_urgent_lanes_overtake_a_digest_backlog(lanes: Stack, broker_url: str) -> None:
    lanes.subscribe([f"r{i}@example.org" for i in range(READERS)])
    run_id, total = lanes.digest()
    assert total == READERS
    deadline = time.monotonic() + 60
    while len(lanes.sink.received) < 5 * BATCH:  # the worker is well into the digest
        assert time.monotonic() < deadline, "the digest did not get going"
        time.sleep(0.01)
    tag = uuid.uuid4().hex[:8]
    urgent = [(f"share-{tag}@example.net", SHARE_QUEUE),
              (f"alert1-{tag}@example.net", ALERT_QUEUE),
              (f"alert2-{tag}@example.net", ALERT_QUEUE)]
    before = len(lanes.sink.received)
    jobs = [urgent_job(lanes, to, queue) for to, queue in urgent]
    assert set(lanes.wait_jobs(jobs, timeout=60)) == {"sent"}
    order = [r.rcpt_tos[0] for r in sorted(lanes.sink.received, key=lambda r: r.at)]
    at = [order.index(to) for to, _ in urgent]
    digests_ahead = [sum(1 for r in order[before:i] if r.startswith("r")) for i in at]
    left = READERS - sum(1 for r in order[:max(at)] if r.startswith("r"))
    print(f"\n{'rabbitmq' if broker_url else 'redis'}: digests delivered after the urgent "
          f"jobs were queued and before each went out: {digests_ahead}; {left} digests "
          "still to go")
    assert left > READERS // 2, "the urgent jobs went out while the digest was far from over"
    if broker_url:  # RabbitMQ: workers of their own; the digest goes on meanwhile
        assert max(digests_ahead) <= 4 * BATCH, digests_ahead
    else:  # Redis: the batch in hand, then share, alerts, alerts, and only then digests
        assert at == sorted(at) and at[2] - at[0] == 2, order[at[0]:at[2] + 1]
        assert digests_ahead[0] <= BATCH, digests_ahead
    counts = lanes.wait_run(run_id, total, timeout=120)
    assert counts == {JobStatus.SENT: READERS}
