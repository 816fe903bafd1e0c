"""Bounce intake: the webhook over HTTP on a real database, and the suppression list."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import redis
from fastapi.testclient import TestClient

from mailer import services
from mailer.config import Settings
from mailer.delivery.bounces import MAX_ITEMS
from mailer.delivery.suppression import SuppressionStore
from mailer.web.app import create_app

API_KEY = "esp-key-for-tests"
AUTH = {"authorization": f"Bearer {API_KEY}"}


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(api_key=API_KEY)


@pytest.fixture
def client(settings: Settings, redis_client: redis.Redis) -> Iterator[TestClient]:
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def suppressions(settings: Settings) -> Iterator[SuppressionStore]:
    with services.stores(settings, seed=False) as stores:
        yield stores.suppressions


def test_hard_bounces_and_complaints_are_suppressed_soft_ones_counted(
        client: TestClient, suppressions: SuppressionStore) -> None:
    body = {"bounces": [
        {"email": "gone@example.org", "type": "hard", "reason": "550 5.1.1 unknown\r\nX: y"},
        {"email": "angry@example.org", "type": "complaint"},
        {"email": "full@example.org", "type": "soft", "reason": "452 mailbox full"},
        {"email": "GONE@example.org"}]}
    response = client.post("/webhooks/bounce", json=body, headers=AUTH)
    assert response.status_code == 200, response.text
    assert response.json() == {"suppressed": 2, "already_suppressed": 0, "soft": 1}
    assert suppressions.suppressed(["gone@example.org", "angry@example.org",
                                    "full@example.org"]) == {"gone@example.org",
                                                             "angry@example.org"}
    [gone] = [s for s in suppressions.list() if s.email == "gone@example.org"]
    assert (gone.source, gone.reason) == ("webhook",
                                          "hard bounce via webhook: 550 5.1.1 unknown  X: y")
    again = client.post("/webhooks/bounce", json={"email": "gone@example.org"}, headers=AUTH)
    assert again.json() == {"suppressed": 0, "already_suppressed": 1, "soft": 0}


@pytest.mark.parametrize("headers", [{}, {"x-api-key": "wrong"},
                                     {"authorization": "Bearer wrong"}])
def test_webhook_needs_the_api_key(client: TestClient, headers: dict[str, str],
                                   suppressions: SuppressionStore) -> None:
    response = client.post("/webhooks/bounce", json={"email": "a@example.org"},
                           headers=headers)
    assert response.status_code == 401
    assert suppressions.list() == []


def test_webhook_is_off_without_an_api_key(make_settings: Callable[..., Settings],
                                           redis_client: redis.Redis) -> None:
    with TestClient(create_app(make_settings())) as client:
        response = client.post("/webhooks/bounce", json={"email": "a@example.org"},
                               headers={"x-api-key": "anything"})
    assert response.status_code == 401
    assert "set MAILER_API_KEY" in response.text


@pytest.mark.parametrize(("body", "field", "message"), [
    ({"email": "not an address"}, "[0].email", "bare address"),
    ({"email": "a@example.org\r\nBcc: x@example.org"}, "[0].email", ""),
    ({"email": "a@example.org", "type": "bouncy"}, "[0].type", "must be one of"),
    ({"email": "a@example.org", "reason": "x" * 501}, "[0].reason", "at most 500"),
    ([], "body", "must be a bounce object"),
    ("a@example.org", "body", "must be a bounce object"),
    ([{"email": "a@example.org"}] * (MAX_ITEMS + 1), "body", f"at most {MAX_ITEMS}"),
    ([{"email": "a@example.org"}, 7], "[1]", "must be an object"),
])
def test_bad_bounce_bodies_are_422_and_record_nothing(
        client: TestClient, suppressions: SuppressionStore, body: object, field: str,
        message: str) -> None:
    response = client.post("/webhooks/bounce", json=body, headers=AUTH)
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert field in errors and message in errors[field]
    assert suppressions.list() == []


def test_not_json_is_a_clear_4xx(client: TestClient) -> None:
    response = client.post("/webhooks/bounce", content=b"{nope", headers={
        **AUTH, "content-type": "application/json"})
    assert response.status_code == 400
    assert "is not valid JSON" in response.text


def test_suppression_store_add_remove(suppressions: SuppressionStore) -> None:
    assert suppressions.add("Reader@Example.org", "550", "smtp")
    assert not suppressions.add("reader@example.org", "again", "manual")
    assert suppressions.suppressed(["READER@example.org"]) == {"reader@example.org"}
    assert [(s.email, s.reason) for s in suppressions.list()] == [("Reader@Example.org", "550")]
    assert suppressions.remove("reader@EXAMPLE.org")
    assert not suppressions.remove("reader@example.org")
    assert suppressions.suppressed(["reader@example.org"]) == set()
