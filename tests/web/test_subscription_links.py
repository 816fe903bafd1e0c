"""Sign-up, confirm, unsubscribe, preferences and the CMS endpoint over HTTP, on a real
database and a real Redis broker (no worker: queued jobs stay where the test sees them)."""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Callable, Iterator

import pytest
import redis
from fastapi.testclient import TestClient

from mailer import services
from mailer.config import Settings
from mailer.queue import CONFIRM_TASK
from mailer.services import make_tokens
from mailer.subscriptions.model import SubscriberStatus
from mailer.subscriptions.store import SubscriberStore
from mailer.tokens import Purpose, Tokens
from mailer.web.app import create_app
from mailer.web.routes.subscriptions import SIGNUP_ACCEPTED

API_KEY = "cms-key-for-tests"


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(api_key=API_KEY, confirm_resend_seconds=0)


@pytest.fixture
def store(settings: Settings) -> Iterator[SubscriberStore]:
    with services.stores(settings, seed=False) as stores:
        yield stores.subscribers


@pytest.fixture
def tokens(settings: Settings) -> Tokens:
    return make_tokens(settings)


def queued(redis_client: redis.Redis, task: str) -> list[dict[str, object]]:
    out = []
    for raw in redis_client.lrange("share", 0, -1):
        message = json.loads(raw)
        if message["headers"]["task"] == task:
            out.append(json.loads(base64.b64decode(message["body"]))[0][0])
    return out


def test_subscribe_answers_the_same_whatever_the_state(client: TestClient,
                                                       store: SubscriberStore,
                                                       redis_client: redis.Redis) -> None:
    form = {"email": "leyla@example.com", "name": "Leyla", "sections": ["politics"]}
    first = client.post("/subscribe", json=form)
    pending = client.post("/subscribe", json=form)
    subscriber = store.find("leyla@example.com")
    assert subscriber is not None
    store.confirm(subscriber.id)
    active = client.post("/subscribe", json={**form, "email": "LEYLA@example.com"})
    bodies = {(r.status_code, r.text) for r in (first, pending, active)}
    assert bodies == {(202, json.dumps({"status": "accepted", "detail": SIGNUP_ACCEPTED},
                                       separators=(",", ":")))}
    assert len(store.list()) == 1
    assert store.list(SubscriberStatus.ACTIVE)[0].id == subscriber.id
    jobs = queued(redis_client, CONFIRM_TASK)
    assert [j["subscriber_id"] for j in jobs] == [subscriber.id] * 3


def test_subscribe_form_with_checkboxes(client: TestClient, store: SubscriberStore) -> None:
    response = client.post("/subscribe", data={"email": "tural@example.net",
                                               "sections": ["politics", "economy"],
                                               "hour": "8", "timezone": "Europe/Berlin"})
    assert response.status_code == 202
    subscriber = store.find("tural@example.net")
    assert subscriber is not None
    assert (subscriber.status, subscriber.preferences.sections, subscriber.preferences.hour,
            subscriber.preferences.timezone) == (SubscriberStatus.PENDING,
                                                 ("economy", "politics"), 8, "Europe/Berlin")


def test_subscribe_errors(client: TestClient, store: SubscriberStore) -> None:
    response = client.post("/subscribe", json={"email": "x", "sections": ["astrology"],
                                               "hour": 30})
    assert response.status_code == 422
    assert set(response.json()["errors"]) == {"email", "sections", "hour"}
    html = client.post("/subscribe", data={"email": "x"}, headers={"accept": "text/html"})
    assert html.status_code == 422
    assert "An email address must have an @-sign." in html.text
    assert store.list() == []


def test_confirm_link(client: TestClient, store: SubscriberStore, tokens: Tokens) -> None:
    client.post("/subscribe", json={"email": "leyla@example.com"})
    subscriber = store.find("leyla@example.com")
    assert subscriber is not None
    response = client.get(f"/confirm/{tokens.make(Purpose.CONFIRM, subscriber.id)}")
    assert response.status_code == 200
    assert "l***@example.com" in response.text
    assert store.get(subscriber.id).status is SubscriberStatus.ACTIVE


@pytest.mark.parametrize(("purpose_made", "path", "status", "text"), [
    (Purpose.UNSUBSCRIBE, "confirm", 400, "This link is not valid"),
    (Purpose.CONFIRM, "unsubscribe", 400, "This link is not valid"),
    (Purpose.CONFIRM, "preferences", 400, "This link is not valid"),
])
def test_wrong_purpose_tokens(client: TestClient, store: SubscriberStore, tokens: Tokens,
                              purpose_made: Purpose, path: str, status: int, text: str) -> None:
    client.post("/subscribe", json={"email": "leyla@example.com"})
    subscriber = store.find("leyla@example.com")
    assert subscriber is not None
    token = tokens.make(purpose_made, subscriber.id)
    for method in ("GET", "POST"):
        if path == "confirm" and method == "POST":
            continue
        response = client.request(method, f"/{path}/{token}")
        assert response.status_code == status
        assert text in response.text
    assert store.get(subscriber.id).status is SubscriberStatus.PENDING


def test_tampered_and_expired_tokens(client: TestClient, store: SubscriberStore,
                                     settings: Settings) -> None:
    client.post("/subscribe", json={"email": "leyla@example.com"})
    subscriber = store.find("leyla@example.com")
    assert subscriber is not None
    good = make_tokens(settings).make(Purpose.CONFIRM, subscriber.id)
    tampered = good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB")
    assert client.get(f"/confirm/{tampered}").status_code == 400
    made_49_hours_ago = time.time() - 49 * 3600
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(time, "time", lambda: made_49_hours_ago)
        old = make_tokens(settings).make(Purpose.CONFIRM, subscriber.id)
    expired = client.get(f"/confirm/{old}")
    assert expired.status_code == 410
    assert "This confirm link has expired." in expired.text
    assert store.get(subscriber.id).status is SubscriberStatus.PENDING


def test_unsubscribe_get_changes_nothing_post_unsubscribes(client: TestClient,
                                                          store: SubscriberStore,
                                                          tokens: Tokens) -> None:
    client.post("/subscribe", json={"email": "leyla@example.com"})
    subscriber = store.find("leyla@example.com")
    assert subscriber is not None
    store.confirm(subscriber.id)
    token = tokens.make(Purpose.UNSUBSCRIBE, subscriber.id)
    page = client.get(f"/unsubscribe/{token}")
    assert page.status_code == 200
    assert "l***@example.com" in page.text
    assert "leyla@example.com" not in page.text
    assert f'action="/unsubscribe/{token}"' in page.text
    assert store.get(subscriber.id).status is SubscriberStatus.ACTIVE
    one_click = client.post(f"/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"},
                            follow_redirects=False)
    assert one_click.status_code == 200
    assert store.get(subscriber.id).status is SubscriberStatus.UNSUBSCRIBED
    assert client.post(f"/unsubscribe/{token}").status_code == 200, "idempotent"


def test_preferences_page_updates(client: TestClient, store: SubscriberStore,
                                  tokens: Tokens) -> None:
    client.post("/subscribe", json={"email": "leyla@example.com", "sections": ["politics"]})
    subscriber = store.find("leyla@example.com")
    assert subscriber is not None
    token = tokens.make(Purpose.PREFERENCES, subscriber.id)
    page = client.get(f"/preferences/{token}")
    assert page.status_code == 200
    assert 'value="politics" checked' in page.text
    saved = client.post(f"/preferences/{token}", data={"sections": ["economy", "society"],
                                                       "hour": "6", "timezone": "london"},
                        follow_redirects=False)
    assert saved.status_code == 303, "post, redirect, get: a refresh posts nothing"
    assert saved.headers["location"] == f"/preferences/{token}?saved=1"
    assert "Your choices are saved. Nothing comes until you confirm" in client.get(
        saved.headers["location"]).text, "pending: saved, and told what is still missing"
    prefs = store.get(subscriber.id).preferences
    assert (prefs.sections, prefs.hour, prefs.timezone) == (("economy", "society"), 6,
                                                            "Europe/London"), \
        "a city is enough: it is stored as its IANA zone"
    bad = client.post(f"/preferences/{token}", data={"hour": "9", "timezone": "Nowhere"})
    assert bad.status_code == 422
    assert "<title>Error: " in bad.text
    assert "Sections choose" not in bad.text and "Daily digest choose" not in bad.text, \
        "a sentence of its own, not glued to a label"
    assert ">Choose at least one section in one of the newsletters, or unsubscribe below.<" \
        in bad.text
    assert "&#39;Nowhere&#39; is not a time zone we know" in bad.text
    assert 'value="Nowhere"' in bad.text, "what was typed is kept"
    assert '<option value="9" selected>' in bad.text, "the hour chosen is kept"
    assert 'value="politics" checked' not in bad.text, "no box re-ticked"
    assert re.search(r'<input id="timezone"[^>]*aria-invalid="true"', bad.text)
    assert '<a href="#timezone">' in bad.text, "the summary links to the field"
    assert '<option value="Baku (Asia), UTC+04:00">' in bad.text, \
        "the zones are offered by city"
    assert store.get(subscriber.id).preferences == prefs
    page = client.get(f"/preferences/{token}")
    assert re.search(r'<input id="timezone"[^>]*value="London \(Europe\), UTC\+0[01]:00"',
                     page.text), "the field shows the zone as the list names it, not IANA's"
    assert "Europe/London" not in page.text
    for label in ("Baku (Asia), UTC+04:00", "Baku (Asia), UTC+03:00", "UTC+4"):
        again = client.post(f"/preferences/{token}", data={
            "sections": ["economy"], "hour": "6", "timezone": label}, follow_redirects=False)
        assert again.status_code == 303, (label, again.text[:500])
        assert store.get(subscriber.id).preferences.timezone in {"Asia/Baku", "Etc/GMT-4"}


def test_sign_up_form_answers_where_it_was_posted(client: TestClient,
                                                  store: SubscriberStore) -> None:
    browser = {"accept": "text/html"}
    article = "non-aligned-movement-support-to-azerbaijan-over-karabakh-significant"
    bad = client.post("/subscribe", headers=browser, data={
        "email": "leyla@", "name": "Leyla", "sections": ["economy"], "article_id": article})
    assert bad.status_code == 422
    assert "Non-Aligned Movement" in bad.text, "the article page it was posted from"
    assert "<title>Error: " in bad.text and 'action="/subscribe"' in bad.text
    assert re.search(r'<input id="signup_email"[^>]*value="leyla@"[^>]*aria-invalid="true"',
                     bad.text)
    assert 'value="Leyla"' in bad.text
    assert 'value="economy" checked' in bad.text and 'value="politics" checked' not in \
        bad.text, "the sections ticked are kept"
    assert '<a href="#signup_email">' in bad.text
    assert "never share it" in bad.text, "a privacy line"
    front = client.post("/subscribe", headers=browser, data={"email": "x"})
    assert front.status_code == 422 and "Latest articles" in front.text
    ok = client.post("/subscribe", headers=browser, follow_redirects=False, data={
        "email": "leyla@example.com", "article_id": article, "timezone_hint": "Europe/Paris"})
    assert ok.status_code == 303 and ok.headers["location"] == f"/subscribed?article={article}"
    landed = client.get(ok.headers["location"], headers=browser)
    assert "Check your inbox" in landed.text and f'href="/articles/{article}"' in landed.text
    subscriber = store.find("leyla@example.com")
    assert subscriber is not None and subscriber.preferences.timezone == "Europe/Paris", \
        "the browser's time zone, when the form does not name one"
    client.post("/subscribe", headers=browser, data={
        "email": "vuqar@example.com", "timezone_hint": "Mars/Olympus"})
    other = store.find("vuqar@example.com")
    assert other is not None and other.preferences.timezone == "Asia/Baku", \
        "a hint we do not know is not the reader's error"


ARTICLE = {"id": "cms-story", "title": "From the CMS", "section": "Politics",
           "published": "2026-11-27T09:00:00+04:00", "url": "https://www.today.az/cms.html",
           "lead": "Lead."}


@pytest.mark.parametrize("headers", [{}, {"x-api-key": "wrong"},
                                     {"authorization": "Bearer wrong"},
                                     {"authorization": f"Basic {API_KEY}"}])
def test_cms_endpoint_refuses_without_the_key(client: TestClient,
                                              headers: dict[str, str]) -> None:
    response = client.post("/articles", json=ARTICLE, headers=headers)
    assert response.status_code == 401
    assert response.json() == {"detail": "missing or wrong API key"}
    assert response.headers["www-authenticate"] == "Bearer"
    assert client.get("/articles/cms-story").status_code == 404


def test_cms_endpoint_imports_and_updates(client: TestClient) -> None:
    key = {"authorization": f"Bearer {API_KEY}"}
    assert client.post("/articles", json=ARTICLE, headers=key).json() == {"imported": 1,
                                                                          "alerts": []}
    changed = {**ARTICLE, "title": "From the CMS, corrected"}
    response = client.post("/articles", json=[changed], headers={"x-api-key": API_KEY})
    assert response.json() == {"imported": 1, "alerts": []}
    page = client.get("/articles/cms-story")
    assert "From the CMS, corrected" in page.text
    bad = client.post("/articles", json={**ARTICLE, "published": "yesterday"}, headers=key)
    assert bad.status_code == 422
    assert bad.json()["errors"] == {"[0]": "published: Input should be a valid datetime or "
                                            "date, input is too short"}


def test_cms_endpoint_disabled_without_a_configured_key(make_settings: Callable[..., Settings],
                                                       redis_client: redis.Redis) -> None:
    with TestClient(create_app(make_settings())) as client:
        response = client.post("/articles", json=ARTICLE, headers={"x-api-key": "anything"})
    assert response.status_code == 401
    assert "set MAILER_API_KEY" in response.json()["detail"]
