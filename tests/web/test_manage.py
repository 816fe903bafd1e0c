""""Manage my subscriptions" and the welcome over HTTP, on a real database and a real
Redis broker (no worker: queued jobs stay where the test sees them)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
import redis
from fastapi.testclient import TestClient

from mailer import services
from mailer.config import Settings
from mailer.delivery.ledger import JobStatus, Kind
from mailer.local.embedded import RedisServer
from mailer.queue import CONFIRM_TASK
from mailer.services import make_tokens
from mailer.stores import Stores
from mailer.subscriptions.model import Preferences, SignUp, Subscriber
from mailer.subscriptions.notices import MANAGE_ACCEPTED
from mailer.tokens import Purpose
from mailer.web.app import create_app
from tests.support.samples import SEED_ID
from tests.web.test_subscription_links import queued

BROWSER = {"accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(confirm_resend_seconds=0, signup_mails_per_day=0)


@pytest.fixture
def stores(settings: Settings) -> Iterator[Stores]:
    with services.stores(settings, seed=False) as opened:
        yield opened


def subscriber(stores: Stores, email: str, *, confirm: bool = True) -> Subscriber:
    person, _ = stores.subscribers.sign_up(
        SignUp(email, "Leyla", Preferences(("politics",), "Asia/Baku", 7)),
        resend_after=timedelta(0))
    return stores.subscribers.confirm(person.id) if confirm else person


def test_the_answer_is_the_same_whatever_the_address(client: TestClient, stores: Stores,
                                                     redis_client: redis.Redis) -> None:
    """Active, pending, unsubscribed or unknown: the same status, the same words, and
    the same work behind them (a ledger row and a job each); the worker tells them
    apart, not the API."""
    subscriber(stores, "active@example.org")
    subscriber(stores, "pending@example.org", confirm=False)
    stores.subscribers.unsubscribe(subscriber(stores, "gone@example.org").id)
    addresses = ["active@example.org", "pending@example.org", "gone@example.org",
                 "nobody@example.org"]
    answers = {(r.status_code, r.text) for r in
               (client.post("/manage", json={"email": a}) for a in addresses)}
    assert answers == {(202, '{"status":"accepted","detail":"' + MANAGE_ACCEPTED + '"}')}
    pages = {(r.status_code, r.headers["location"]) for r in
             (client.post("/manage", data={"email": a}, headers=BROWSER,
                          follow_redirects=False) for a in addresses)}
    assert pages == {(303, "/manage/sent")}
    jobs = queued(redis_client, CONFIRM_TASK)
    assert sorted((j["kind"], j["recipient"]) for j in jobs) == sorted(
        [("manage", a) for a in addresses] * 2)
    assert stores.ledger.kind_counts(Kind.MANAGE) == {JobStatus.QUEUED: 8}
    landed = client.get("/manage/sent", headers=BROWSER)
    assert landed.status_code == 200 and MANAGE_ACCEPTED in landed.text
    assert "within 24 hours" in landed.text and 'href="/#signup"' in landed.text


@pytest.mark.parametrize("email", ["leyla@", "", "a@example.org\r\nBcc: v@example.net",
                                   "x" * 300 + "@example.org"])
def test_a_bad_address_is_a_422_with_the_error_summary(client: TestClient, email: str,
                                                      redis_client: redis.Redis) -> None:
    page = client.post("/manage", data={"email": email}, headers=BROWSER)
    assert page.status_code == 422
    assert "<title>Error: Manage my subscriptions" in page.text
    assert 'class="error-summary"' in page.text and '<a href="#email">' in page.text
    assert re.search(r'<input id="email"[^>]*aria-invalid="true" aria-describedby='
                     r'"email-error"', page.text)
    assert 'id="email-error"' in page.text
    answer = client.post("/manage", json={"email": email})
    assert answer.status_code == 422 and list(answer.json()["errors"]) == ["email"]
    assert client.post("/manage", json={"email": ["a@example.org"]}).status_code == 422
    assert client.post("/manage", json=["a@example.org"]).status_code == 422
    assert client.post("/manage", content=b"\xff", headers={
        "content-type": "application/x-www-form-urlencoded"}).status_code == 422
    assert queued(redis_client, CONFIRM_TASK) == []


def test_what_was_typed_is_kept(client: TestClient) -> None:
    page = client.post("/manage", data={"email": "leyla@exa mple.org"}, headers=BROWSER)
    assert page.status_code == 422 and 'value="leyla@exa mple.org"' in page.text


def test_the_form_shares_the_sign_up_limits(make_settings: Callable[..., Settings],
                                            redis_client: redis.Redis) -> None:
    """The sign-up's per-client quota, counted once for both forms; the sign-up's
    per-address cap on e-mails, silent as it is there."""
    settings = make_settings(signup_limit_per_ip="3/h", signup_mails_per_day=2)
    with TestClient(create_app(settings)) as client:
        codes = [client.post("/manage", json={"email": "a@example.org"}).status_code
                 for _ in range(2)]
        codes.append(client.post("/subscribe", json={"email": "b@example.org"}).status_code)
        over = client.post("/manage", data={"email": "c@example.org"}, headers=BROWSER)
        signup_over = client.post("/subscribe", json={"email": "d@example.org"})
    assert codes == [202, 202, 202]
    assert over.status_code == 429 and signup_over.status_code == 429
    assert int(over.headers["retry-after"]) > 0
    assert "Too many sign-ups from your network" in over.text
    assert "<h1>Please wait</h1>" in over.text
    jobs = queued(redis_client, CONFIRM_TASK)
    assert len([j for j in jobs if j.get("kind") == "manage"]) == 2
    settings = make_settings(signup_mails_per_day=2)
    redis_client.flushdb()
    with TestClient(create_app(settings)) as client:
        answers = {client.post("/manage", json={"email": "target@example.org"}).text
                   for _ in range(4)}
    assert len(answers) == 1, "the answer tells nothing"
    assert len(queued(redis_client, CONFIRM_TASK)) == 2, "two e-mails a day to an address"


def test_services_away_is_a_503_page_never_a_500(make_settings: Callable[..., Settings],
                                                 tmp_path: object) -> None:
    from pathlib import Path

    own = RedisServer(Path(str(tmp_path)) / "redis").start()
    app = create_app(make_settings(redis_url=own.url))
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/manage").status_code == 200
        own.stop()
        page = client.post("/manage", data={"email": "a@example.org"}, headers=BROWSER)
        answer = client.post("/manage", json={"email": "a@example.org"})
    assert page.status_code == 503 and "Please try again in a minute" in page.text
    assert page.headers["retry-after"]
    assert answer.status_code == 503 and "unavailable" in answer.json()["detail"]


def test_a_manage_link_opens_the_preferences_page_for_a_day(
        client: TestClient, stores: Stores, settings: Settings) -> None:
    reader = subscriber(stores, "leyla@example.org")
    tokens = make_tokens(settings)
    token = tokens.make(Purpose.MANAGE, reader.id)
    page = client.get(f"/preferences/{token}")
    assert page.status_code == 200 and "l***@example.org" in page.text
    assert f'action="/preferences/{token}"' in page.text
    saved = client.post(f"/preferences/{token}", data={"sections": ["world"], "hour": "9",
                                                       "timezone": "Berlin"},
                        follow_redirects=False)
    assert saved.status_code == 303
    assert saved.headers["location"] == f"/preferences/{token}?saved=1"
    assert stores.subscribers.get(reader.id).preferences == Preferences(
        ("world",), "Europe/Berlin", 9)
    assert client.get(f"/unsubscribe/{token}").status_code == 400, "for preferences only"
    assert client.get(f"/confirm/{token}").status_code == 400
    day_ago = time.time() - 24 * 3600 - 10
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(time, "time", lambda: day_ago)
        old = tokens.make(Purpose.MANAGE, reader.id)
    for method in ("GET", "POST"):
        expired = client.request(method, f"/preferences/{old}", headers=BROWSER)
        assert expired.status_code == 410
        assert "This manage link has expired." in expired.text
        assert 'href="/manage">Manage my subscriptions</a>' in expired.text
    assert stores.subscribers.get(reader.id).preferences.hour == 9


def test_the_pages_lead_to_manage(client: TestClient, stores: Stores,
                                  settings: Settings) -> None:
    reader = subscriber(stores, "leyla@example.org")
    tokens = make_tokens(settings)
    article = client.get(f"/articles/{SEED_ID}").text
    signup_block = article[article.index('id="signup"'):]
    assert 'Already subscribed? <a href="/manage">Manage my subscriptions</a>' in signup_block
    for path in (f"/preferences/{tokens.make(Purpose.PREFERENCES, reader.id)}",
                 f"/unsubscribe/{tokens.make(Purpose.UNSUBSCRIBE, reader.id)}", "/"):
        page = client.get(path).text
        footer = page[page.index("<footer>"):]
        assert '<a href="/manage">Manage my subscriptions</a>' in footer, path
    form = client.get("/manage")
    assert form.status_code == 200 and 'action="/manage"' in form.text
    assert 'autocomplete="email"' in form.text and "works for 24 hours" in form.text


def test_a_confirmation_opened_twice_queues_one_welcome(
        client: TestClient, stores: Stores, settings: Settings,
        redis_client: redis.Redis) -> None:
    client.post("/subscribe", json={"email": "leyla@example.org", "sections": ["world"]})
    person = stores.subscribers.find("leyla@example.org")
    assert person is not None
    link = f"/confirm/{make_tokens(settings).make(Purpose.CONFIRM, person.id)}"
    assert [client.get(link).status_code for _ in range(3)] == [200, 200, 200]
    welcomes = [j for j in queued(redis_client, CONFIRM_TASK) if j.get("kind") == "welcome"]
    assert [(j["subscriber_id"], j["recipient"]) for j in welcomes] == [
        (person.id, "leyla@example.org")]
    assert stores.ledger.kind_counts(Kind.WELCOME) == {JobStatus.QUEUED: 1}
