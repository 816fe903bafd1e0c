"""Ops figures against a running stack of their own (Redis database 7, two worker
processes, the recording SMTP server), on each broker (the queue in that Redis, then in
a RabbitMQ vhost of its own): a backlog shows in `mailer status` and `/metrics`, then
drains; a stopped worker makes status exit 1 and /readyz fail."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from mailer.config import load_settings
from mailer.db import make_engine, upgrade
from mailer.local.embedded import ApiServer, RedisServer, WorkerProcess, worker_env
from mailer.web.app import create_app
from tests.conftest import NO_FLOOD_LIMITS, TEST_SECRET
from tests.support.cli import run
from tests.support.smtp import RecordingHandler

NO_WORKER = "no worker answered a ping: start the workers"

ARTICLE = "non-aligned-movement-support-to-azerbaijan-over-karabakh-significant"


def metric(api: httpx.Client, name: str, labels: dict[str, str]) -> float | None:
    for family in text_string_to_metric_families(api.get("/metrics").text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return None


@pytest.mark.timeout(300)
def test_backlog_drains_and_a_stopped_worker_is_seen(
        tmp_path: Path, redis_server: RedisServer, smtp: RecordingHandler, smtp_port: int,
        broker_url: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    settings = load_settings(redis_url=f"redis://127.0.0.1:{redis_server.port}/7",
                             broker_url=broker_url,
                             var_dir=tmp_path, secret_key=TEST_SECRET,
                             api_key=SecretStr("ops-stack-key"),
                             smtp_url=f"smtp://127.0.0.1:{smtp_port}?timeout=5",
                             **NO_FLOOD_LIMITS)
    engine = make_engine(settings.database)
    upgrade(engine)
    engine.dispose()
    # The database is this test's own: what the other broker's run left (the repeat
    # window of the very same shares, the counters) must not answer for this one.
    redis.Redis(port=redis_server.port, db=7).flushdb()
    env = worker_env(settings)
    for name, value in env.items():
        if name.startswith("MAILER_"):
            monkeypatch.setenv(name, value)
    server = ApiServer(create_app(settings)).start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as api:
            for i in range(30):
                assert api.post("/share", json={
                    "article_id": ARTICLE, "sender_name": "Aysel",
                    "sender_email": "aysel@example.com", "friend_name": "Friend",
                    "friend_email": f"backlog{i}@example.org"}).status_code == 202
            code, out, _ = run(["status", "--json", "--timeout", "0.5"], capsys)
            status = json.loads(out)
            share = next(q for q in status["queues"] if q["name"] == "share")
            assert (code, share["waiting"]) == (1, 30)
            assert metric(api, "mailer_queue_depth", {"queue": "share"}) == 30
            age = metric(api, "mailer_queue_oldest_seconds", {"queue": "share"})
            if broker_url:  # RabbitMQ cannot tell without taking the message: not shown
                assert share["oldest_seconds"] is None and age is None
            else:
                assert 0 <= share["oldest_seconds"] < 60 and age is not None and age >= 0
            _, table, _ = run(["status", "--timeout", "0.5"], capsys)
            row = next(line for line in table.splitlines() if line.startswith("│ share "))
            assert ("n/a" in row) == bool(broker_url), row
            assert api.get("/readyz").status_code == 503

            worker = WorkerProcess(env, tmp_path / "worker.log", concurrency=2).start()
            try:
                deadline = time.monotonic() + 60
                while (metric(api, "mailer_messages_total",
                              {"kind": "share", "outcome": "sent"}) or 0) < 30:
                    assert time.monotonic() < deadline, "the backlog did not drain"
                    time.sleep(0.2)
                assert metric(api, "mailer_queue_depth", {"queue": "share"}) == 0
                assert len(smtp.received) == 30
                started = time.monotonic()
                code, out, _ = run(["status", "--json"], capsys)
                took = time.monotonic() - started
                status = json.loads(out)
                assert (code, status["problems"]) == (0, [])
                # The workers' three broadcasts asked at once, each over when every
                # worker bound on Redis answered (RabbitMQ: at the 1 s timeout); 3 s before.
                assert took < (1.6 if broker_url else 0.6), f"mailer status took {took:.2f} s"
                assert status["outcomes"]["5m"]["share"]["sent"] == 30
                assert api.get("/readyz").status_code == 200
            finally:
                worker.stop()
            code, out, _ = run(["status", "--json", "--timeout", "0.5"], capsys)
            problems = json.loads(out)["problems"]
            assert code == 1 and NO_WORKER in (p[:len(NO_WORKER)] for p in problems)
            assert api.get("/readyz").json()["checks"]["workers"]["ok"] is False
    finally:
        server.stop()
