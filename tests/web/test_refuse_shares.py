"""The friend's way to say no: the link in every share e-mail, over HTTP on a real
database, and what it does to the next share (tests/delivery/test_deliverer.py sends
one through a real SMTP server)."""

from __future__ import annotations

import email
import re
from email import policy

import pytest
from fastapi.testclient import TestClient

from mailer import services
from mailer.articles.files import read_seed_articles
from mailer.config import ROOT, Settings
from mailer.delivery.ledger import JobStatus
from mailer.services import make_renderer, make_tokens
from mailer.share.request import validate_share
from mailer.tokens import Purpose

ARTICLE = read_seed_articles(ROOT / "seeds")[0]
FRIEND = "Vuqar@Example.org"
NORMAL = "Vuqar@example.org"  # the domain lower-cased by validation


def refuse_path(settings: Settings) -> str:
    """The link as the share e-mail carries it, in both parts."""
    share = validate_share({"article_id": ARTICLE.id, "sender_name": "Aysel",
                            "sender_email": "aysel@example.com", "friend_name": "Vüqar",
                            "friend_email": FRIEND, "message": ""})
    out = make_renderer(settings).render(ARTICLE, share)
    [in_text] = re.findall(r"https?://\S+/refuse-shares/\S+", out.text)
    assert f'href="{in_text}"' in out.html
    assert "Don't send me articles from TODAY.AZ readers" in out.html
    return in_text.removeprefix(settings.public_url)


def test_the_link_names_the_friend_and_a_get_changes_nothing(
        client: TestClient, settings: Settings) -> None:
    path = refuse_path(settings)
    token = path.rsplit("/", 1)[1]
    assert make_tokens(settings).read(Purpose.REFUSE_SHARES, token) == NORMAL
    page = client.get(path)
    assert page.status_code == 200
    assert NORMAL in page.text, "the friend sees which of their addresses it is"
    assert f'action="/refuse-shares/{token}"' in page.text
    assert not services.stores(settings, seed=False).suppressions.refuses_shares(FRIEND)


def test_post_refuses_and_the_same_page_offers_the_way_back(
        client: TestClient, settings: Settings) -> None:
    path = refuse_path(settings)
    suppressions = services.stores(settings, seed=False).suppressions
    done = client.post(path)
    assert done.status_code == 200 and "no more articles from readers" in done.text
    assert suppressions.refuses_shares("vuqar@example.org")
    assert f'action="{path}/undo"' in done.text
    assert client.get(path).text.count("already refuse") == 1
    back = client.post(f"{path}/undo")
    assert back.status_code == 200 and "can send you articles again" in back.text
    assert not suppressions.refuses_shares(FRIEND)


def test_shares_to_a_refusing_address_are_accepted_as_usual(
        client: TestClient, settings: Settings) -> None:
    """Nobody learns from the form who refused: the answer is the same 202."""
    services.stores(settings, seed=False).suppressions.refuse_shares(FRIEND)
    answer = client.post("/share", json={
        "article_id": ARTICLE.id, "sender_name": "Aysel", "sender_email": "a@example.com",
        "friend_name": "Vüqar", "friend_email": FRIEND, "message": ""})
    assert answer.status_code == 202
    job_id = answer.json()["job_id"]
    stores = services.stores(settings, seed=False)
    for status, reply in ((JobStatus.SUPPRESSED, "not sent: the address refuses shares"),
                          (JobStatus.BOUNCED, "550 5.1.1 user unknown")):
        stores.ledger.mark(job_id, status, reply)  # as the worker, then a bounce, would
        shown = client.get(f"/jobs/{job_id}").json()
        assert (shown["status"], shown["last_reply"]) == ("sent", ""), \
            "the job status a sender can read says nothing of a refusal or a bounce"
    stores.close()


@pytest.mark.parametrize("token", ["forged", "x" * 400])
def test_a_forged_link_is_a_page_saying_so(client: TestClient, token: str) -> None:
    page = client.post(f"/refuse-shares/{token}")
    assert page.status_code == 400 and "This link is not valid" in page.text


def test_a_link_of_another_purpose_is_refused(client: TestClient, settings: Settings) -> None:
    token = make_tokens(settings).make(Purpose.UNSUBSCRIBE, FRIEND)
    assert client.post(f"/refuse-shares/{token}").status_code == 400


def test_a_mail_apps_unsubscribe_button_reaches_the_friends_refusal(
        client: TestClient, settings: Settings) -> None:
    """RFC 8058 on share e-mails: the header names the refusal link, and the one-click
    POST a mailbox provider sends refuses at once with a 200."""
    from mailer.share.mail import build_share_envelope

    share = validate_share({"article_id": ARTICLE.id, "sender_name": "Aysel",
                            "sender_email": "aysel@example.com", "friend_name": "Vüqar",
                            "friend_email": FRIEND, "message": ""})
    rendered = make_renderer(settings).render(ARTICLE, share)
    envelope = build_share_envelope(rendered, share, site_name="TODAY.AZ",
                                    from_email="news@today.az", domain="today.az")
    message = email.message_from_bytes(envelope.message, policy=policy.default)
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    [link] = re.findall(r"<(https?://\S+/refuse-shares/\S+)>", str(message["List-Unsubscribe"]))
    assert link == rendered.list_unsubscribe
    done = client.post(link.removeprefix(settings.public_url),
                       content=b"List-Unsubscribe=One-Click",
                       headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert done.status_code == 200
    assert services.stores(settings, seed=False).suppressions.refuses_shares(FRIEND)
