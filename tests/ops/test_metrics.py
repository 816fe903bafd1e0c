"""Metrics in a real Redis: several recorders (processes) add up; the exposition has the
counters, cumulative histogram buckets and the queue gauges."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import redis
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from mailer.config import Settings
from mailer.delivery.recorder import MetricsRecorder
from mailer.ops.metrics import RedisCollector, ServiceCollector
from mailer.queue import LANES
from mailer.web.app import create_app
from worker.producer import CeleryJobQueue, oldest_age


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def exposition(client: redis.Redis) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    registry = CollectorRegistry()
    registry.register(RedisCollector(client))
    return samples(generate_latest(registry).decode())


def test_recorders_in_several_processes_add_up(redis_client: redis.Redis) -> None:
    first, second = MetricsRecorder(redis_client), MetricsRecorder(redis_client)
    for recorder, n in ((first, 3), (second, 4)):
        for _ in range(n):
            recorder.message("share", "sent")
            recorder.observe("smtp_seconds", 0.02)
        recorder.message("digest", "deferred")
        recorder.observe("smtp_seconds", 7.0)
        recorder.flush()
        recorder.flush()  # nothing new: writes nothing
    got = exposition(redis_client)
    assert got[("mailer_messages_total", (("kind", "share"), ("outcome", "sent")))] == 7
    assert got[("mailer_messages_total", (("kind", "digest"), ("outcome", "deferred")))] == 2
    assert got[("mailer_smtp_seconds_bucket", (("le", "0.01"),))] == 0
    assert got[("mailer_smtp_seconds_bucket", (("le", "0.025"),))] == 7
    assert got[("mailer_smtp_seconds_bucket", (("le", "5"),))] == 7
    assert got[("mailer_smtp_seconds_bucket", (("le", "+Inf"),))] == 9
    assert got[("mailer_smtp_seconds_count", ())] == 9
    assert abs(got[("mailer_smtp_seconds_sum", ())] - (7 * 0.02 + 14.0)) < 1e-9


def test_queue_depth_and_oldest_job(make_settings: Callable[..., Settings],
                                    redis_client: redis.Redis) -> None:
    now = time.time()
    for age in (30, 5):  # kombu pushes on the left: the oldest ends up on the right
        redis_client.lpush("share", json.dumps({"headers": {"queued_at": now - age}}))
    assert 29.5 < oldest_age(redis_client, "share", now) <= 30.5
    assert oldest_age(redis_client, "digest", now) == 0
    queue = CeleryJobQueue(make_settings())  # the broker: the same Redis, database 1
    try:
        share, alerts, digest = queue.backlog(LANES)
    finally:
        queue.close()
    assert (share.waiting, alerts.waiting, digest.waiting) == (2, 0, 0)
    assert share.oldest_seconds is not None and share.oldest_seconds >= 30


def test_metrics_endpoint_sees_a_queued_share(make_settings: Callable[..., Settings],
                                              redis_client: redis.Redis) -> None:
    with TestClient(create_app(make_settings())) as client:
        response = client.post("/share", json={
            "article_id": "non-aligned-movement-support-to-azerbaijan-over-karabakh-"
                          "significant", "sender_name": "A", "sender_email": "a@example.com",
            "friend_name": "B", "friend_email": "b@example.org"})
        assert response.status_code == 202
        page = client.get("/metrics")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/plain")
    got = samples(page.text)
    assert got[("mailer_queue_depth", (("queue", "share"),))] == 1
    assert 0 <= got[("mailer_queue_oldest_seconds", (("queue", "share"),))] < 60
    assert got[("mailer_queue_consumers", (("queue", "share"),))] == 0, "no worker runs"
    assert got[("mailer_digest_oldest_unsent_seconds", ())] == 0


def test_digest_figures_come_from_the_database(make_settings: Callable[..., Settings],
                                               redis_client: redis.Redis) -> None:
    """A run with its messages all final reads `done`; a paused one `paused`; a digest
    waiting has an age; one given up counts as expired."""
    from datetime import timedelta

    from sqlalchemy import update

    from mailer import services
    from mailer.delivery.ledger import JobStatus
    from mailer.models import DeliveryRow, utcnow
    from mailer.queue import load_job_queue

    settings = make_settings()
    stores = services.stores(settings)
    now = utcnow()
    for run_id, rows in (("run-done", ("d1",)), ("run-paused", ("p1",))):
        stores.runs.open(run_id, "2020-10-28", now)
        stores.runs.set_total(run_id, len(rows))
        for row in rows:
            stores.ledger.create(row, kind="digest", recipient=f"{row}@example.org",
                                 reference="2020-10-28")
            with stores.sessions.begin() as session:  # as the planner files its rows
                session.execute(update(DeliveryRow).where(DeliveryRow.id == row)
                                .values(run_id=run_id))
    stores.ledger.mark("d1", JobStatus.SENT, "250 ok")
    stores.runs.pause("run-paused", "relay refused us")
    stores.ledger.create("x1", kind="digest", recipient="x1@example.org", reference="e")
    stores.ledger.mark("x1", JobStatus.EXPIRED, "not sent within its window")
    registry = CollectorRegistry()
    queue = load_job_queue(settings)
    registry.register(ServiceCollector(stores, queue, timeout=0.2))
    got = samples(generate_latest(registry).decode())
    queue.close()
    assert got[("mailer_digest_runs", (("state", "done"),))] == 1
    assert got[("mailer_digest_runs", (("state", "paused"),))] == 1
    assert got[("mailer_digest_runs", (("state", "running"),))] == 0
    assert 0 <= got[("mailer_digest_oldest_unsent_seconds", ())] < timedelta(minutes=5).seconds
    assert got[("mailer_digests_expired_last_hour", ())] == 1
    assert got[("mailer_queue_consumers", (("queue", "digest"),))] == 0
