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
    assert {q["name"] for q in status["queues"]} == {"share", "digest"}
    assert status["healthy"] is False and "no worker answered a ping" in status["problems"]
