"""Browsers get pages for errors, with a next step; API clients keep their JSON."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


@pytest.mark.parametrize("path", ["/articles/nosuch", "/no/such/page"])
def test_a_browser_gets_a_404_page_with_a_way_on(client: TestClient, path: str) -> None:
    page = client.get(path, headers=BROWSER)
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "<h1>Page not found</h1>" in page.text
    assert '<a href="/">Go to the front page</a>' in page.text


@pytest.mark.parametrize("path", ["/articles/nosuch", "/no/such/page"])
def test_an_api_client_still_gets_json(client: TestClient, path: str) -> None:
    answer = client.get(path, headers={"Accept": "application/json"})
    assert answer.status_code == 404 and "detail" in answer.json()


def test_a_bad_link_says_so_once_and_what_to_do(client: TestClient) -> None:
    page = client.get("/unsubscribe/forged", headers=BROWSER)
    assert page.status_code == 400
    assert page.text.count("This link is not valid") == 2, "the title and the heading only"
    assert "copy the complete address from the e-mail" in page.text


@pytest.mark.parametrize("form", [
    {"article_id": "nosuch", "sender_name": "Aysel", "sender_email": "aysel@example.com",
     "friend_name": "Vüqar", "friend_email": "vuqar@example.org"},
    {"article_id": "nosuch", "sender_name": "", "sender_email": "aysel@example.com",
     "friend_name": "Vüqar", "friend_email": "nope"},
    {"sender_name": "Aysel"},
])
def test_a_share_form_for_an_unknown_article_gets_a_404_page(client: TestClient,
                                                             form: dict[str, str]) -> None:
    page = client.post("/share", data=form, headers=BROWSER)
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "<h1>Page not found</h1>" in page.text
    assert "front page lists every article" in page.text


@pytest.mark.parametrize("path", ["/share", "/subscribe"])
def test_a_forms_address_opened_in_a_browser_is_a_page(client: TestClient, path: str) -> None:
    """After a form error the address bar shows /share or /subscribe; opening it again
    (Enter, a restored tab) answers a page with a way on, not raw JSON."""
    page = client.get(path, headers={"Accept": "text/html,application/xhtml+xml"})
    assert page.status_code == 405
    assert page.headers["content-type"].startswith("text/html")
    assert "This address is a form" in page.text and 'href="/"' in page.text
    api = client.get(path, headers={"Accept": "application/json"})
    assert api.status_code == 405 and api.json() == {"detail": "Method Not Allowed"}
