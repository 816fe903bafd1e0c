"""The ops page and its JSON over HTTP: protected by the API key (Basic auth for
browsers), the same figures as `mailer status`, plus sent-per-minute."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator

import pytest
import redis
from fastapi.testclient import TestClient

from mailer.config import Settings
from mailer.delivery.recorder import MetricsRecorder
from mailer.web.app import create_app

NO_WORKER = "no worker answered a ping: start the workers"

KEY = "ops-key-for-tests"
BASIC = {"authorization": "Basic " + base64.b64encode(f"ops:{KEY}".encode()).decode()}


@pytest.fixture
def client(make_settings: Callable[..., Settings], redis_client: redis.Redis
           ) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(api_key=KEY))) as test_client:
        yield test_client


@pytest.mark.parametrize("headers", [{}, {"authorization": "Basic " + base64.b64encode(
    b"ops:wrong").decode()}, {"authorization": "Basic !!!"}])
def test_ops_needs_the_key(client: TestClient, headers: dict[str, str]) -> None:
    for path in ("/ops", "/ops/status.json"):
        response = client.get(path, headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == 'Basic realm="newsmailer ops"'


def test_ops_page_and_its_figures(client: TestClient, redis_client: redis.Redis) -> None:
    page = client.get("/ops", headers=BASIC)
    assert page.status_code == 200 and "mail ops" in page.text
    assert 'new URL("/ops/status.json", location.origin)' in page.text
    recorder = MetricsRecorder(redis_client)
    for _ in range(7):
        recorder.message("digest", "sent")
    recorder.message("share", "failed")
    recorder.flush()
    status = client.get("/ops/status.json", headers={"x-api-key": KEY}).json()
    assert len(status["throughput"]) == 60
    # Summed: the minute may turn between recording and asking.
    assert sum(m["sent"] for m in status["throughput"]) == 7, "failures are not throughput"
    assert {q["name"] for q in status["queues"]} == {"share", "alerts", "digest"}
    assert status["healthy"] is False
    assert NO_WORKER in (p[:len(NO_WORKER)] for p in status["problems"])
    assert 'name="viewport"' in page.text


def test_the_dashboard_figures(client: TestClient, redis_client: redis.Redis,
                               make_settings: Callable[..., Settings]) -> None:
    """Outcomes per minute per kind, the top replies of the hour, SMTP reply time and
    times in the site's zone, all from Redis and the database: a new API process (a
    restart) shows the same figures."""
    from mailer import services
    from mailer.delivery.ledger import JobStatus

    recorder = MetricsRecorder(redis_client)
    for outcome, n in (("sent", 5), ("deferred", 2), ("failed", 1)):
        for _ in range(n):
            recorder.message("share", outcome)
    for seconds in [0.004] * 9 + [0.8]:
        recorder.observe("smtp_seconds", seconds)
    recorder.flush()
    ledger = services.stores(make_settings(api_key=KEY), seed=False).ledger
    for n, (status, reply) in enumerate([(JobStatus.DEFERRED, "451 4.7.1 greylisted")] * 3
                                        + [(JobStatus.FAILED, "550 5.1.1 no such user")]):
        ledger.create(f"j{n}", kind="share", recipient=f"p{n}@example.org", reference="a")
        ledger.mark(f"j{n}", status, reply)
    first = client.get("/ops/status.json", headers=BASIC).json()
    with TestClient(create_app(make_settings(api_key=KEY))) as restarted:
        again = restarted.get("/ops/status.json", headers=BASIC).json()
    for status in (first, again):
        share = status["chart"]["kinds"]["share"]
        assert (sum(share["sent"]), sum(share["deferred"]), sum(share["failed"])) == (5, 2, 1)
        assert len(status["chart"]["minutes"]) == 60 and ":" in status["chart"]["minutes"][0]
        assert status["top_replies"][:2] == [
            {"status": "deferred", "reply": "451 4.7.1 greylisted", "messages": 3},
            {"status": "failed", "reply": "550 5.1.1 no such user", "messages": 1}]
        assert status["smtp_latency"]["observed"] == 10
        assert 0.0025 < status["smtp_latency"]["p50"] <= 0.005
        assert 0.5 < status["smtp_latency"]["p99"] <= 1.0
        assert status["timezone"] == "Asia/Baku, UTC+0400"
