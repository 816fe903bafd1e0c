"""One e-mail per share however often it is posted: refreshes, double clicks and
client retries, on a real Redis and database (no worker: queued jobs stay where the
test sees them)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import redis
from fastapi.testclient import TestClient
from sqlalchemy import text

from mailer import services
from mailer.config import Settings
from mailer.web.app import create_app
from tests.web.test_app import FORM

BROWSER = {"Accept": "text/html,application/xhtml+xml"}


def queued(redis_client: redis.Redis) -> list[str]:
    return [json.loads(base64.b64decode(json.loads(raw)["body"]))[0][0]["job_id"]
            for raw in redis_client.lrange("share", 0, -1)]


def test_the_same_share_posted_again_is_the_same_job(
        client: TestClient, settings: Settings, redis_client: redis.Redis) -> None:
    first = client.post("/share", json=FORM).json()["job_id"]
    again = client.post("/share", json={**FORM, "sender_email": "AYSEL@example.com",
                                        "message": "Typed again."}).json()["job_id"]
    assert again == first
    assert queued(redis_client) == [first], "one job, one e-mail"
    other = client.post("/share", json={**FORM, "friend_email": "leyla@example.org"})
    assert other.status_code == 202 and other.json()["job_id"] != first
    with services.stores(settings, seed=False).sessions.begin() as session:
        count = session.execute(
            text("SELECT count(*) FROM deliveries")).scalar()
    assert count == 2


def test_a_browser_refresh_after_the_redirect_sends_nothing_more(
        client: TestClient, redis_client: redis.Redis) -> None:
    posted = client.post("/share", data=FORM, headers=BROWSER, follow_redirects=False)
    assert posted.status_code == 303
    for _ in range(3):
        assert client.get(posted.headers["location"], headers=BROWSER).status_code == 200
    resubmitted = client.post("/share", data=FORM, headers=BROWSER, follow_redirects=False)
    assert resubmitted.headers["location"] == posted.headers["location"] + "?again=1"
    again = client.get(resubmitted.headers["location"], headers=BROWSER).text
    assert "moments ago, so nothing new was sent" in again, \
        "a repeat says the first e-mail stands, not 'on its way'"
    assert "vuqar@example.org" in again.lower(), "whom they shared with, in words"
    assert len(queued(redis_client)) == 1


def test_an_idempotency_key_repeats_the_answer(client: TestClient,
                                               redis_client: redis.Redis) -> None:
    headers = {"Idempotency-Key": "retry-7f3a"}
    first = client.post("/share", json=FORM, headers=headers).json()["job_id"]
    changed = {**FORM, "friend_email": "someone.else@example.org"}
    assert client.post("/share", json=changed, headers=headers).json()["job_id"] == first
    assert queued(redis_client) == [first]
    bad = client.post("/share", json=FORM, headers={"Idempotency-Key": "x" * 201})
    assert bad.status_code == 400 and "Idempotency-Key" in bad.text


def test_the_window_can_be_turned_off(make_settings: Callable[..., Settings],
                                      redis_client: redis.Redis) -> None:
    with TestClient(create_app(make_settings(share_repeat_window_minutes=0))) as client:
        ids = {client.post("/share", json=FORM).json()["job_id"] for _ in range(2)}
    assert len(ids) == 2 and len(queued(redis_client)) == 2


def test_an_unknown_thank_you_page_is_404(client: TestClient) -> None:
    assert client.get("/shared/nope", headers=BROWSER).status_code == 404


def test_the_thank_you_page_suggests_a_common_providers_address(client: TestClient) -> None:
    """Suggested, never refused: the share went to what was typed."""
    typo = {**FORM, "friend_email": "vuqar@gmial.con"}
    page = client.post("/share", data=typo, headers=BROWSER, follow_redirects=True)
    assert page.status_code == 200 and "is on its way" in page.text
    assert "Did you mean <strong>vuqar@gmail.com</strong>?" in page.text
    plain = client.post("/share", data={**FORM, "friend_email": "vuqar@today.az"},
                        headers=BROWSER, follow_redirects=True)
    assert "Did you mean" not in plain.text
