"""The welcome e-mail and the manage link, on a real database (SQLite, and PostgreSQL
when configured), a real Redis broker and a real SMTP server: what is queued, what is
sent, to whom, and what the ledger says."""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
import redis

from mailer.config import Settings, SmtpConfig
from mailer.db import SessionFactory
from mailer.delivery.deliverer import Deliverer
from mailer.delivery.ledger import DeliveryLedger, JobStatus, Kind
from mailer.delivery.retry import RetryPolicy
from mailer.delivery.suppression import SuppressionStore
from mailer.errors import ExpiredToken, InvalidInput, InvalidToken, NothingToSend
from mailer.queue import CONFIRM_TASK
from mailer.sending.backends.smtp import SmtpBackend
from mailer.services import make_catalog, make_template_mail, make_tokens
from mailer.subscriptions.model import Preferences, SignUp, Subscriber
from mailer.subscriptions.notices import (
    hour_in_words,
    in_words,
    queue_welcome,
    request_manage_link,
    welcome_id,
)
from mailer.subscriptions.signup import ConfirmMail
from mailer.subscriptions.store import SubscriberStore
from mailer.subscriptions.zones import zone_in_words
from mailer.tokens import Purpose, Tokens
from tests.support.samples import html_of
from tests.support.smtp import RecordingHandler
from worker.producer import CeleryJobQueue


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(public_url="https://news.example.test")


@pytest.fixture
def queue(settings: Settings, redis_client: redis.Redis) -> Iterator[CeleryJobQueue]:
    job_queue = CeleryJobQueue(settings)
    yield job_queue
    job_queue.close()


def queued(client: redis.Redis) -> list[dict[str, object]]:
    """The payloads of the confirm-task jobs on the transactional queue, oldest first."""
    jobs = [json.loads(raw) for raw in client.lrange("share", 0, -1)]
    return [json.loads(base64.b64decode(job["body"]))[0][0]
            for job in reversed(jobs) if job["headers"]["task"] == CONFIRM_TASK]


def mail_of(settings: Settings, store: SubscriberStore) -> ConfirmMail:
    return ConfirmMail(store=store, tokens=make_tokens(settings),
                       mail=make_template_mail(settings), catalog=make_catalog(settings),
                       public_url=settings.public_url, site_name=settings.site_name,
                       from_email=settings.from_email, domain=settings.site_domain,
                       confirm_hours=48, manage_hours=settings.manage_link_hours)


def sender(ledger: DeliveryLedger, port: int, sessions: SessionFactory) -> Deliverer:
    return Deliverer(ledger=ledger, backend=SmtpBackend(SmtpConfig("127.0.0.1", port, timeout=5)),
                     retry=RetryPolicy(1, 4, 3600), lease_seconds=30,
                     suppressions=SuppressionStore(sessions))


def active(store: SubscriberStore, email: str, sections: tuple[str, ...] = ("politics",),
           hour: int = 7, zone: str = "Asia/Baku") -> Subscriber:
    person, _ = store.sign_up(SignUp(email, "Leyla", Preferences(sections, zone, hour)),
                              resend_after=timedelta(0))
    return store.confirm(person.id)


def test_one_welcome_per_confirmation(sessions: SessionFactory, queue: CeleryJobQueue,
                                      redis_client: redis.Redis) -> None:
    store, ledger = SubscriberStore(sessions), DeliveryLedger(sessions)
    first = active(store, "leyla@example.org")
    assert queue_welcome(first, ledger=ledger, queue=queue) is True
    again = store.confirm(first.id)  # the link opened a second time
    assert welcome_id(again) == welcome_id(first), "the moment reads back as written"
    assert queue_welcome(again, ledger=ledger, queue=queue) is False
    assert ledger.kind_counts(Kind.WELCOME) == {JobStatus.QUEUED: 1}
    assert [(j["kind"], j["subscriber_id"]) for j in queued(redis_client)] == [
        ("welcome", first.id)]
    store.unsubscribe(first.id)
    time.sleep(0.002)
    back = active(store, "leyla@example.org")  # signs up again later: a new welcome
    assert back.id == first.id and queue_welcome(back, ledger=ledger, queue=queue) is True
    assert ledger.kind_counts(Kind.WELCOME) == {JobStatus.QUEUED: 2}
    pending, _ = store.sign_up(SignUp("vuqar@example.org", "", Preferences(
        ("politics",), "Asia/Baku", 7)), resend_after=timedelta(0))
    assert queue_welcome(pending, ledger=ledger, queue=queue) is False, "not confirmed"


def test_the_manage_link_reaches_an_active_subscriber_only(
        sessions: SessionFactory, settings: Settings, queue: CeleryJobQueue,
        redis_client: redis.Redis, smtp: RecordingHandler, smtp_port: int) -> None:
    """Every address takes the same path to the queue; the worker sends the link to
    the active subscriber and nothing to anyone else, recorded as skipped."""
    store, ledger = SubscriberStore(sessions), DeliveryLedger(sessions)
    reader = active(store, "leyla@example.org", ("politics", "world"))
    gone = active(store, "gone@example.org")
    store.unsubscribe(gone.id)
    store.sign_up(SignUp("pending@example.org", "", Preferences(("world",), "UTC", 9)),
                  resend_after=timedelta(0))
    typed = ["LEYLA@example.org", "nobody@example.org", "gone@example.org",
             "pending@example.org"]
    for address in typed:
        request_manage_link({"email": address}, ledger=ledger, queue=queue)
    jobs = queued(redis_client)
    assert [(j["kind"], j["recipient"]) for j in jobs] == [("manage", a) for a in typed]
    assert ledger.kind_counts(Kind.MANAGE) == {JobStatus.QUEUED: 4}
    mail, deliverer = mail_of(settings, store), sender(ledger, smtp_port, sessions)
    outcomes = [mail.deliver(deliverer, job, 1).action for job in jobs]
    deliverer.backend.close()
    assert outcomes == ["sent", "skipped", "skipped", "skipped"]
    assert ledger.kind_counts(Kind.MANAGE) == {JobStatus.SENT: 1, JobStatus.SKIPPED: 3}
    [received] = smtp.received
    assert received.rcpt_tos == ("leyla@example.org",), "the address as it was confirmed"
    message = received.message
    assert message["Subject"] == "Your link to change your TODAY.AZ subscriptions"
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Politics and World, daily at 07:00 (7 in the morning), Baku time" in " ".join(
        text.split())
    assert "works for 24 hours" in text
    token = re.search(r"https://news\.example\.test/preferences/(\S+)", text)
    assert token, text
    tokens = make_tokens(settings)
    assert tokens.read(Purpose.MANAGE, token.group(1)) == reader.id
    with pytest.raises(InvalidToken):
        tokens.read(Purpose.PREFERENCES, token.group(1))  # a short-lived link of its own
    html = html_of(message)
    assert 'class="button" href="https://news.example.test/preferences/' in html
    assert 'style="' in html, "the stylesheet is inlined"


def test_a_manage_request_with_a_bad_address_queues_nothing(
        sessions: SessionFactory, queue: CeleryJobQueue, redis_client: redis.Redis) -> None:
    ledger = DeliveryLedger(sessions)
    for fields in ({"email": "leyla@"}, {"email": ["a@example.org"]}, {},
                   {"email": "a@example.org\r\nBcc: victim@example.net"}):
        with pytest.raises(InvalidInput) as caught:
            request_manage_link(fields, ledger=ledger, queue=queue)
        assert list(caught.value.errors) == ["email"]
    assert queued(redis_client) == [] and ledger.kind_counts(Kind.MANAGE) == {}


def test_the_welcome_says_what_and_when_with_the_links(
        sessions: SessionFactory, settings: Settings, queue: CeleryJobQueue,
        redis_client: redis.Redis, smtp: RecordingHandler, smtp_port: int) -> None:
    store, ledger = SubscriberStore(sessions), DeliveryLedger(sessions)
    reader = active(store, "leyla@example.org", ("politics", "economy", "world"), 18,
                    "Europe/London")
    queue_welcome(reader, ledger=ledger, queue=queue)
    [job] = queued(redis_client)
    deliverer = sender(ledger, smtp_port, sessions)
    assert mail_of(settings, store).deliver(deliverer, job, 1).action == "sent"
    deliverer.backend.close()
    assert ledger.kind_counts(Kind.WELCOME) == {JobStatus.SENT: 1}
    message = smtp.received[0].message
    assert message["Subject"] == "Welcome to TODAY.AZ: your subscription is confirmed"
    assert "List-Unsubscribe" not in message, "transactional, as the confirmation"
    text = " ".join(message.get_body(("plain",)).get_content().split())  # type: ignore[union-attr]
    assert "the previous day's articles in Politics, Economy and World" in text, text
    assert "daily at 18:00 (6 in the evening), London time (Europe/London)" in text
    tokens = make_tokens(settings)
    found = dict(re.findall(r"https://news\.example\.test/(preferences|unsubscribe)/(\S+)",
                            text))
    assert tokens.read(Purpose.PREFERENCES, found["preferences"]) == reader.id
    assert tokens.read(Purpose.UNSUBSCRIBE, found["unsubscribe"]) == reader.id
    html = html_of(message)
    assert "Change sections or delivery time" in html and 'style="' in html
    store.unsubscribe(reader.id)
    with pytest.raises(NothingToSend):
        mail_of(settings, store).build_welcome(reader.id)


def test_manage_links_expire_and_open_only_the_preferences_page() -> None:
    tokens = Tokens("a-secret-of-some-length", confirm_max_age=3600)
    token = tokens.make(Purpose.MANAGE, "sub1")
    assert tokens.read_any((Purpose.PREFERENCES, Purpose.MANAGE), token) == "sub1"
    with pytest.raises(InvalidToken):
        tokens.read_any((Purpose.UNSUBSCRIBE, Purpose.CONFIRM), token)
    day_ago = time.time() - 24 * 3600 - 5
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(time, "time", lambda: day_ago)
        old = tokens.make(Purpose.MANAGE, "sub1")
        year_old_kind = tokens.make(Purpose.PREFERENCES, "sub1")
    with pytest.raises(ExpiredToken, match="this manage link has expired"):
        tokens.read_any((Purpose.PREFERENCES, Purpose.MANAGE), old)
    assert tokens.read_any((Purpose.PREFERENCES, Purpose.MANAGE), year_old_kind) == "sub1"
    with pytest.raises(InvalidToken):
        tokens.read_any((Purpose.PREFERENCES, Purpose.MANAGE), "forged")


@pytest.mark.parametrize(("hour", "words"), [
    (0, "midnight"), (3, "3 at night"), (5, "5 in the morning"), (7, "7 in the morning"),
    (12, "noon"), (13, "1 in the afternoon"), (18, "6 in the evening"),
    (21, "9 in the evening"), (22, "10 at night"), (23, "11 at night")])
def test_hours_in_words(hour: int, words: str) -> None:
    assert hour_in_words(hour) == words


def test_lists_and_zones_in_words() -> None:
    assert [in_words(x) for x in ([], ["Politics"], ["Politics", "World"],
                                  ["Politics", "Economy", "World"])] == [
        "", "Politics", "Politics and World", "Politics, Economy and World"]
    assert zone_in_words("Asia/Baku") == "Baku time"
    assert zone_in_words("America/Argentina/Buenos_Aires") == "Buenos Aires time"
    assert zone_in_words("UTC") == "UTC"
