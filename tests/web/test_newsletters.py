"""Newsletters over HTTP (read by anyone, changed with the API key) and chosen on the
sign-up form and the preferences page, on a real database."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from mailer import services
from mailer.config import Settings
from mailer.stores import Stores
from mailer.subscriptions.model import Preferences, SignUp, unsubscribe_value
from mailer.tokens import Purpose

KEY = {"X-API-Key": "newsletter-key"}


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(api_key=SecretStr("newsletter-key"))


@pytest.fixture
def stores(settings: Settings) -> Iterator[Stores]:
    with services.stores(settings, seed=True) as opened:
        yield opened


def test_anyone_reads_what_is_offered(client: TestClient) -> None:
    listed = client.get("/newsletters").json()["newsletters"]
    assert [(n["slug"], n["cadence"], n["weekday"]) for n in listed] == [
        ("daily", "daily", None), ("weekly", "weekly", "Sunday"),
        ("breaking", "immediate", None)]
    assert listed[1]["when"] == "every Sunday, at your hour"
    assert "politics" in listed[0]["sections"]


def test_changing_newsletters_takes_the_api_key(client: TestClient) -> None:
    body = {"slug": "economy-weekly", "name": "Economy weekly", "cadence": "weekly",
            "weekday": "Monday", "sections": ["Economy"]}
    assert client.post("/newsletters", json=body).status_code == 401
    added = client.post("/newsletters", json=body, headers=KEY)
    assert added.status_code == 201 and added.json()["sections"] == ["economy"]
    changed = client.patch("/newsletters/economy-weekly", json={"weekday": "fri"},
                           headers=KEY)
    assert changed.json()["when"] == "every Friday, at your hour"
    assert "economy-weekly" in client.get("/").text, "the sign-up form offers it at once"
    bad = client.post("/newsletters", json={**body, "slug": "x y", "cadence": "hourly"},
                      headers=KEY)
    assert bad.status_code == 422
    assert set(bad.json()["errors"]) == {"slug", "cadence"}
    assert client.patch("/newsletters/nope", json={}, headers=KEY).status_code == 404
    assert client.delete("/newsletters/daily", headers=KEY).status_code == 422
    assert client.delete("/newsletters/economy-weekly", headers=KEY).json() == {
        "choices_removed": 0}


def test_one_form_chooses_sections_in_each_newsletter(client: TestClient,
                                                      stores: Stores) -> None:
    page = client.get("/")
    assert 'name="sections-weekly" value="culture"' in page.text
    assert "The week in review" in page.text and "every Sunday" in page.text
    client.post("/subscribe", data={"email": "leyla@example.com", "sections": ["politics"],
                                    "sections-weekly": ["culture", "economy"]},
                follow_redirects=False)
    reader = stores.subscribers.find("leyla@example.com")
    assert reader is not None and reader.status.value == "pending"
    assert reader.preferences.sections == ("politics",)
    assert reader.preferences.chosen("weekly") == ("culture", "economy")


def test_the_api_names_a_newsletter_that_is_not_offered(client: TestClient) -> None:
    answer = client.post("/subscribe", json={"email": "leyla@example.com",
                                             "newsletters": {"monthly": ["politics"]}})
    assert answer.status_code == 422
    assert "unknown newsletter 'monthly'" in answer.json()["errors"]["newsletters"]
    nothing = client.post("/subscribe", json={"email": "leyla@example.com", "sections": []})
    assert nothing.json()["errors"]["sections"] == (
        "Choose at least one section in one of the newsletters")


def test_preferences_can_leave_the_daily_digest_for_the_weekly(
        client: TestClient, stores: Stores, settings: Settings) -> None:
    client.post("/subscribe", json={"email": "leyla@example.com", "sections": ["politics"]})
    reader = stores.subscribers.find("leyla@example.com")
    assert reader is not None
    token = services.make_tokens(settings).make(Purpose.PREFERENCES, reader.id)
    saved = client.post(f"/preferences/{token}", data={
        "sections-weekly": ["politics"], "hour": "8", "timezone": "Asia/Baku"},
        follow_redirects=False)
    assert saved.status_code == 303
    prefs = stores.subscribers.get(reader.id).preferences
    assert (prefs.sections, prefs.newsletters) == ((), (("weekly", ("politics",)),))
    page = client.get(f"/preferences/{token}").text
    assert 'name="sections-weekly" value="politics" checked' in page
    assert 'name="sections" value="politics" checked' not in page
    nothing = client.post(f"/preferences/{token}", data={"hour": "8",
                                                         "timezone": "Asia/Baku"})
    assert nothing.status_code == 422
    assert "Choose at least one section in one of the newsletters, or unsubscribe" \
        in nothing.text


def reader_of_both(stores: Stores) -> str:
    return stores.subscribers.add_active(SignUp("leyla@example.com", "", Preferences(
        ("politics",), "Asia/Baku", 7, (("weekly", ("culture",)),)))).id


def test_one_click_leaves_the_newsletter_the_message_came_from(
        client: TestClient, stores: Stores, settings: Settings) -> None:
    tokens = services.make_tokens(settings)
    reader = reader_of_both(stores)
    weekly = tokens.make(Purpose.UNSUBSCRIBE, unsubscribe_value(reader, "weekly"))
    page = client.get(f"/unsubscribe/{weekly}").text
    assert "Stop “The week in review” only" in page and "Stop everything" in page
    assert "Choose fewer sections instead" in page
    assert stores.subscribers.get(reader).preferences.chosen("weekly") == ("culture",), \
        "a GET (a link preview) changes nothing"
    done = client.post(f"/unsubscribe/{weekly}", content=b"List-Unsubscribe=One-Click",
                       headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert done.status_code == 200 and "no more “The week in review” e-mails" in done.text
    left = stores.subscribers.get(reader)
    assert (left.status.value, left.preferences.sections, left.preferences.newsletters) == (
        "active", ("politics",), ())
    daily = tokens.make(Purpose.UNSUBSCRIBE, unsubscribe_value(reader))
    assert "only one it gets" in client.get(f"/unsubscribe/{daily}").text
    client.post(f"/unsubscribe/{daily}", content=b"List-Unsubscribe=One-Click",
                headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert stores.subscribers.get(reader).status.value == "unsubscribed", \
        "the last newsletter gone: unsubscribed"


def test_the_page_can_stop_everything_at_once(client: TestClient, stores: Stores,
                                              settings: Settings) -> None:
    reader = reader_of_both(stores)
    token = services.make_tokens(settings).make(Purpose.UNSUBSCRIBE,
                                                unsubscribe_value(reader, "weekly"))
    done = client.post(f"/unsubscribe/{token}", data={"scope": "everything"})
    assert "no more e-mail from" in done.text
    assert stores.subscribers.get(reader).status.value == "unsubscribed"


def test_an_unsubscribed_reader_can_undo_it_from_their_own_link(
        client: TestClient, stores: Stores, settings: Settings) -> None:
    reader = reader_of_both(stores)
    token = services.make_tokens(settings).make(Purpose.UNSUBSCRIBE,
                                                unsubscribe_value(reader))
    done = client.post(f"/unsubscribe/{token}", data={"scope": "everything"})
    undo = re.search(r'<a href="[^"]*(/preferences/[^"]+)">Changed your mind\? Resubscribe',
                     done.text)
    assert undo, "the unsubscribed page offers an undo"
    page = client.get(undo.group(1)).text
    assert "This address is unsubscribed" in page and "Resubscribe with these choices" in page
    assert "what we send next follows them" not in page
    back = client.post(undo.group(1), data={"sections": ["politics"], "resubscribe": "1",
                                            "hour": "7", "timezone": "Asia/Baku"},
                       follow_redirects=True)
    assert "Your preferences are saved" in back.text
    assert stores.subscribers.get(reader).status.value == "active"


def test_the_sign_up_form_and_preferences_share_one_rule_for_nothing_ticked(
        client: TestClient, stores: Stores) -> None:
    """Every box unticked on the site's form is refused with the same sentence as on
    the preferences page; an API client that names no sections gets the default."""
    page = client.post("/subscribe", data={"form": "signup", "email": "leyla@example.com"},
                       headers={"Accept": "text/html"})
    assert page.status_code == 422
    assert ">Choose at least one section in one of the newsletters.<" in page.text
    assert stores.subscribers.find("leyla@example.com") is None
    assert client.post("/subscribe", json={"email": "leyla@example.com"}).status_code == 202
    reader = stores.subscribers.find("leyla@example.com")
    assert reader is not None and len(reader.preferences.sections) == 6
