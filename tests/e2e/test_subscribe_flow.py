from __future__ import annotations

import re
import time

import httpx

from mailer import services
from mailer.config import Settings
from mailer.subscriptions.model import SubscriberStatus
from tests.e2e.conftest import PUBLIC_URL
from tests.support.smtp import Received, RecordingHandler


def wait_for_mail(smtp: RecordingHandler, recipient: str, count: int,
                  timeout: float = 20) -> list[Received]:
    deadline = time.monotonic() + timeout
    while len(found := smtp.for_recipient(recipient)) < count:
        assert time.monotonic() < deadline, f"{recipient} got {len(found)} of {count} e-mails"
        time.sleep(0.05)
    return found


def link_in(received: Received, path: str) -> str:
    text = received.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    found = re.search(rf"{re.escape(PUBLIC_URL)}(/{path}/\S+)", text)
    assert found, text
    return found.group(1)


def test_double_opt_in_end_to_end(api: httpx.Client, e2e_settings: Settings,
                                  smtp_handler: RecordingHandler) -> None:
    form = {"email": "reader@example.com", "name": "Leyla Quliyeva",
            "sections": ["politics"], "timezone": "Asia/Baku", "hour": 7}
    assert api.post("/subscribe", json=form).status_code == 202
    [confirmation] = wait_for_mail(smtp_handler, "reader@example.com", 1)
    msg = confirmation.message
    assert msg["Subject"] == "Confirm your subscription to TODAY.AZ"
    assert msg["From"] == '"TODAY.AZ" <news@today.az>'
    assert msg["To"] == "Leyla Quliyeva <reader@example.com>"
    assert "List-Unsubscribe" not in msg, "a confirmation is not bulk mail"
    html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "Confirm my subscription" in html
    button = re.search(r'class="button" href="([^"]+)"', html)
    fallback = re.search(r'class="fallback-link"[^>]*>([^<]+)</a>', html)
    assert button and fallback and fallback.group(1) == button.group(1), \
        "the confirm address is also given as text under the button"

    subscribers = services.stores(e2e_settings, seed=False).subscribers
    found = subscribers.find("reader@example.com")
    assert found is not None and found.status is SubscriberStatus.PENDING

    confirm = api.get(link_in(confirmation, "confirm"))
    assert confirm.status_code == 200
    assert subscribers.get(found.id).status is SubscriberStatus.ACTIVE

    again = api.post("/subscribe", json={**form, "email": "READER@example.com"})
    assert again.status_code == 202
    by_subject = {m.message["Subject"]: m
                  for m in wait_for_mail(smtp_handler, "reader@example.com", 3)[1:]}
    assert set(by_subject) == {"Welcome to TODAY.AZ: your subscription is confirmed",
                               "You are already subscribed to TODAY.AZ"}, \
        "the confirmation brought a welcome"
    notice = by_subject["You are already subscribed to TODAY.AZ"]
    assert [s.email for s in subscribers.list()].count("reader@example.com") == 1

    unsubscribe = link_in(notice, "unsubscribe")
    assert api.get(unsubscribe).status_code == 200
    assert subscribers.get(found.id).status is SubscriberStatus.ACTIVE, "a GET changes nothing"
    assert api.post(unsubscribe, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    assert subscribers.get(found.id).status is SubscriberStatus.UNSUBSCRIBED
