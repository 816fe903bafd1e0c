"""Each provider's documented sample payloads, signed as the provider signs them, through
the API on real databases (SQLite, and PostgreSQL where configured) and Redis: a
verified event is acted on (suppression, the ledger row `bounced` when the return path
is ours, a complaint unsubscribes); a forged, altered, missing, stale or replayed
signature is refused and nothing is acted on."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
import redis
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from fastapi.testclient import TestClient
from sqlalchemy import text

from mailer import services
from mailer.config import Settings
from mailer.delivery.ledger import JobStatus
from mailer.inbound.webhooks.ses import canonical
from mailer.stores import Stores
from mailer.subscriptions.model import Preferences, SignUp
from mailer.tokens import ReturnPaths
from mailer.web.app import create_app
from tests.inbound.webhooks.signing import (
    MAILGUN_KEY,
    POSTMARK,
    TOPIC,
    SendgridSigner,
    SnsSigner,
    basic,
    mailgun_signed,
    sample,
)

BOUNCES = "bounces@bounces.today.az"
SNS = {"content-type": "text/plain; charset=UTF-8", "x-amz-sns-message-type": "Notification"}


@pytest.fixture
def sns() -> SnsSigner:
    return SnsSigner()


@pytest.fixture(scope="module")
def sendgrid() -> SendgridSigner:
    return SendgridSigner()


@pytest.fixture
def settings(make_settings: Callable[..., Settings], database_url: str,
             sendgrid: SendgridSigner) -> Settings:
    return make_settings(database_url=database_url, bounce_address=BOUNCES,
                         ses_topic_arns=TOPIC, mailgun_signing_key=MAILGUN_KEY,
                         postmark_webhook_user=POSTMARK[0], postmark_webhook_password=POSTMARK[1],
                         sendgrid_verification_key=sendgrid.public)


@pytest.fixture
def stores(settings: Settings, sessions: object) -> Iterator[Stores]:
    with services.stores(settings, seed=False) as opened:
        yield opened


@pytest.fixture
def client(settings: Settings, stores: Stores, sns: SnsSigner, redis_client: redis.Redis
           ) -> Iterator[TestClient]:
    app = create_app(settings, stores=stores, fetch=sns.fetch)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def sent(stores: Stores, to: str) -> str:
    job_id = uuid4().hex
    stores.ledger.create(job_id, kind="digest", recipient=to, reference="2026-11-26")
    stores.ledger.mark(job_id, JobStatus.SENT, "250 2.0.0 queued")
    return job_id


def return_path(settings: Settings, job_id: str) -> str:
    return ReturnPaths(settings.secret_key.get_secret_value(), BOUNCES).address(job_id)


def subscribe(stores: Stores, address: str) -> str:
    return stores.subscribers.add_active(SignUp(address, "", Preferences(
        ("politics",), "Asia/Baku", 7))).id


def suppressed(stores: Stores, *addresses: str) -> set[str]:
    return stores.suppressions.suppressed(list(addresses))


def soft_bounces(stores: Stores, address: str) -> int:
    """The address's soft bounces in a row (a delay is not one)."""
    return stores.feedback.soft_streak(address, datetime.now(UTC) - timedelta(days=1), "")


# Amazon SES through SNS

@pytest.mark.parametrize("version", ["1", "2"])
def test_an_ses_bounce_with_our_return_path_suppresses_and_marks_the_message_bounced(
        client: TestClient, settings: Settings, stores: Stores, sns: SnsSigner,
        version: str) -> None:
    job_id = sent(stores, "jane@example.com")
    ses = sample("ses-bounce.json")
    ses["mail"]["source"] = return_path(settings, job_id)
    response = client.post("/webhooks/ses", content=sns.notification(ses, version), headers=SNS)
    assert response.status_code == 200, response.text
    assert response.json() == {"events": 1, "actions": {"suppressed": 1}}
    assert suppressed(stores, "jane@example.com") == {"jane@example.com"}
    record = stores.ledger.get(job_id)
    assert record is not None and record.status is JobStatus.BOUNCED
    assert "5.1.1" in record.last_reply


def test_an_ses_complaint_unsubscribes_and_suppresses_the_reader(
        client: TestClient, stores: Stores, sns: SnsSigner) -> None:
    reader = subscribe(stores, "richard@example.com")
    response = client.post("/webhooks/ses", content=sns.notification(
        sample("ses-complaint.json")), headers=SNS)
    assert response.json() == {"events": 1, "actions": {"complained": 1}}
    assert stores.subscribers.get(reader).status.value == "unsubscribed"
    assert suppressed(stores, "richard@example.com") == {"richard@example.com"}


def _altered(body: bytes) -> bytes:
    message = json.loads(body)
    message["Message"] = message["Message"].replace("jane@example.com", "mary@example.com")
    return json.dumps(message).encode()


def _other_topic(sns: SnsSigner) -> bytes:
    envelope = {**sample("sns-notification.json"),
                "Message": json.dumps(sample("ses-bounce.json")),
                "TopicArn": "arn:aws:sns:us-west-2:999999999999:SomeoneElses"}
    return json.dumps(sns.sign(envelope)).encode()


def _elsewhere(body: bytes, url: str) -> bytes:
    return json.dumps({**json.loads(body), "SigningCertURL": url}).encode()


@pytest.mark.parametrize("forge, status", [
    ("altered", 403), ("unsigned", 401), ("other topic", 403), ("http cert", 403),
    ("foreign host", 403), ("foreign key", 403), ("stale", 403)])
def test_a_forged_sns_message_is_refused_and_acts_on_no_one(
        client: TestClient, stores: Stores, sns: SnsSigner, forge: str, status: int) -> None:
    good = sns.notification(sample("ses-bounce.json"))
    pem = "/SimpleNotificationService-x.pem"
    body = {"altered": lambda: _altered(good),
            "unsigned": lambda: json.dumps({k: v for k, v in json.loads(good).items()
                                            if k != "Signature"}).encode(),
            "other topic": lambda: _other_topic(sns),
            "http cert": lambda: _elsewhere(good, "http://sns.us-west-2.amazonaws.com" + pem),
            "foreign host": lambda: _elsewhere(good, "https://sns.us-west-2.evil.example" + pem),
            "foreign key": lambda: SnsSigner().notification(sample("ses-bounce.json")),
            "stale": lambda: _resign(sns, {**json.loads(good),
                                           "Timestamp": "2012-05-02T00:54:06.655Z"}),
            }[forge]()
    response = client.post("/webhooks/ses", content=body, headers=SNS)
    assert response.status_code == status, response.text
    assert suppressed(stores, "jane@example.com", "mary@example.com") == set()
    assert all(url.endswith(".pem") and url.startswith("https://sns.us-west-2.amazonaws.com/")
               for url in sns.fetched)


def _resign(sns: SnsSigner, message: dict[str, Any]) -> bytes:
    """Signed as it stands (SnsSigner.sign would date it now)."""
    signature = sns.key.sign(canonical(message), padding.PKCS1v15(), hashes.SHA1())
    return json.dumps({**message, "Signature": base64.b64encode(signature).decode()}).encode()


def test_an_sns_message_sent_again_is_refused_and_the_certificate_is_fetched_once(
        client: TestClient, stores: Stores, sns: SnsSigner) -> None:
    body = sns.notification(sample("ses-bounce.json"))
    assert client.post("/webhooks/ses", content=body, headers=SNS).status_code == 200
    again = client.post("/webhooks/ses", content=body, headers=SNS)
    assert again.status_code == 403 and "replay" in again.json()["detail"]
    other = sample("ses-complaint.json")
    assert client.post("/webhooks/ses", content=sns.notification(other, message_id="another"),
                       headers=SNS).status_code == 200
    assert len(sns.fetched) == 1


@pytest.mark.parametrize("confirm", [False, True])
def test_a_subscription_confirmation_is_confirmed_only_when_the_setting_says_so(
        make_settings: Callable[..., Settings], sns: SnsSigner, redis_client: redis.Redis,
        caplog: pytest.LogCaptureFixture, confirm: bool) -> None:
    app_settings = make_settings(ses_topic_arns=TOPIC, ses_confirm_subscriptions=confirm)
    message = sns.sign(sample("sns-subscription-confirmation.json"))
    with TestClient(create_app(app_settings, fetch=sns.fetch)) as test_client:
        response = test_client.post("/webhooks/ses", content=json.dumps(message), headers={
            **SNS, "x-amz-sns-message-type": "SubscriptionConfirmation"})
    assert response.status_code == 200
    subscribe_url = message["SubscribeURL"]
    assert (subscribe_url in sns.fetched) is confirm
    assert response.json()["note"] == ("subscription confirmed" if confirm
                                       else "subscription logged for the operator")
    assert confirm or subscribe_url in caplog.text


@pytest.mark.parametrize("name, reader, actions", [
    ("ses-event-complaint.json", "recipient@example.com", {"complained": 1}),
    ("ses-event-delivery-delay.json", "recipient@example.com", {"counted": 1}),
    ("ses-event-subscription.json", "recipient@example.com", {"unsubscribed": 1}),
])
def test_ses_event_publishing_records_are_read_as_the_notifications_are(
        client: TestClient, stores: Stores, sns: SnsSigner, name: str, reader: str,
        actions: dict[str, int]) -> None:
    """A configuration set's records say `eventType` where notifications say
    `notificationType`; SES's own list management adds the Subscription record."""
    subscriber = subscribe(stores, reader)
    response = client.post("/webhooks/ses", content=sns.notification(sample(name)), headers=SNS)
    assert response.json() == {"events": 1, "actions": actions}
    status = stores.subscribers.get(subscriber).status.value
    assert status == ("active" if "counted" in actions else "unsubscribed")


def test_an_ses_event_bounce_record_finds_our_return_path_behind_a_display_name(
        client: TestClient, settings: Settings, stores: Stores, sns: SnsSigner) -> None:
    """The documented Bounce record gives `mail.source` as "Sender Name <address>"."""
    job_id = sent(stores, "recipient@example.com")
    ses = sample("ses-event-bounce.json")
    assert ses["mail"]["source"] == "Sender Name <sender@example.com>"
    ses["mail"]["source"] = f"Sender Name <{return_path(settings, job_id)}>"
    response = client.post("/webhooks/ses", content=sns.notification(ses), headers=SNS)
    assert response.json() == {"events": 1, "actions": {"suppressed": 1}}
    record = stores.ledger.get(job_id)
    assert record is not None and record.status is JobStatus.BOUNCED


def _bounce_of(kind: str, subtype: str) -> dict[str, Any]:
    """The documented bounce notification with another verdict: SES documents no
    example of these, only their names (notification-contents.html, "Bounce types")."""
    ses = sample("ses-bounce.json")
    ses["bounce"].update(bounceType=kind, bounceSubType=subtype)
    person = ses["bounce"]["bouncedRecipients"][0]
    person.update(status="4.2.2" if kind == "Transient" else "5.0.0",
                  diagnosticCode=f"smtp; {kind} {subtype}")
    return ses


@pytest.mark.parametrize("kind, subtype, action", [
    ("Transient", "MailboxFull", "counted"), ("Transient", "General", "counted"),
    ("Undetermined", "Undetermined", "counted"),
    ("Transient", "ContentRejected", "blames-us"), ("Transient", "MessageTooLarge", "blames-us"),
    ("Permanent", "OnAccountSuppressionList", "suppressed")])
def test_an_ses_bounce_is_hard_only_when_permanent(
        client: TestClient, stores: Stores, sns: SnsSigner, kind: str, subtype: str,
        action: str) -> None:
    body = sns.notification(_bounce_of(kind, subtype))
    response = client.post("/webhooks/ses", content=body, headers=SNS)
    assert response.json() == {"events": 1, "actions": {action: 1}}
    assert bool(suppressed(stores, "jane@example.com")) is (action == "suppressed")
    if action == "counted":  # a soft bounce, one of a streak
        assert soft_bounces(stores, "jane@example.com") == 1


def test_a_recipient_delayed_within_a_permanent_bounce_is_not_suppressed(
        client: TestClient, stores: Stores, sns: SnsSigner) -> None:
    """The bounce object documented in notification-contents.html ("Bounce object"):
    one recipient failed (5.0.0), the other only delayed (4.0.0)."""
    ses = sample("ses-bounce.json")
    ses["bounce"] = {
        "bounceType": "Permanent", "bounceSubType": "General",
        "bouncedRecipients": [
            {"status": "5.0.0", "action": "failed", "diagnosticCode": "smtp; 550 user unknown",
             "emailAddress": "recipient1@example.com"},
            {"status": "4.0.0", "action": "delayed", "emailAddress": "recipient2@example.com"}],
        "reportingMTA": "example.com", "timestamp": "2012-05-25T14:59:38.605Z",
        "feedbackId": "000001378603176d-5a4b5ad9-6f30-4198-a8c3-b1eb0c270a1d-000000",
        "remoteMtaIp": "127.0.2.0"}
    response = client.post("/webhooks/ses", content=sns.notification(ses), headers=SNS)
    assert response.json() == {"events": 2, "actions": {"suppressed": 1, "counted": 1}}
    assert suppressed(stores, "recipient1@example.com", "recipient2@example.com") == {
        "recipient1@example.com"}


def test_an_sns_unsubscribe_confirmation_is_logged_and_acts_on_no_one(
        client: TestClient, sns: SnsSigner, caplog: pytest.LogCaptureFixture) -> None:
    message = sns.sign(sample("sns-unsubscribe-confirmation.json"))
    response = client.post("/webhooks/ses", content=json.dumps(message), headers={
        **SNS, "x-amz-sns-message-type": "UnsubscribeConfirmation"})
    assert response.json() == {"events": 0, "actions": {}, "note": "unsubscribed"}
    assert "unsubscribed from" in caplog.text and sns.fetched == [sns.fetched[0]]


# Mailgun

def test_a_mailgun_permanent_failure_suppresses_and_a_temporary_one_is_a_delay(
        client: TestClient, stores: Stores) -> None:
    hard = client.post("/webhooks/mailgun", content=mailgun_signed(
        sample("mailgun-failed-permanent.json")), headers={"content-type": "application/json"})
    assert hard.json() == {"events": 1, "actions": {"suppressed": 1}}
    assert suppressed(stores, "slava@mailgun.com") == {"slava@mailgun.com"}
    soft = client.post("/webhooks/mailgun", content=mailgun_signed(
        sample("mailgun-failed-temporary.json"), token="another-token-0123456789"))
    assert soft.json() == {"events": 1, "actions": {"counted": 1}}
    assert suppressed(stores, "test@test.com") == set()
    assert soft_bounces(stores, "test@test.com") == 0, "a delay is no soft bounce"


def test_a_mailgun_event_with_our_return_path_marks_the_message_bounced(
        client: TestClient, settings: Settings, stores: Stores) -> None:
    job_id = sent(stores, "slava@mailgun.com")
    payload = sample("mailgun-failed-permanent.json")
    payload["event-data"]["envelope"]["sender"] = return_path(settings, job_id)
    assert client.post("/webhooks/mailgun", content=mailgun_signed(payload)).status_code == 200
    record = stores.ledger.get(job_id)
    assert record is not None and record.status is JobStatus.BOUNCED


@pytest.mark.parametrize("forge, status", [
    ("documented signature", 403), ("wrong key", 403), ("old", 403), ("unsigned", 401),
    ("altered token", 403)])
def test_a_forged_mailgun_event_is_refused(client: TestClient, stores: Stores, forge: str,
                                          status: int) -> None:
    payload = sample("mailgun-failed-permanent.json")
    body = {"documented signature": lambda: json.dumps(payload).encode(),  # not our key's
            "wrong key": lambda: mailgun_signed(payload, key="key-someone-elses"),
            "old": lambda: mailgun_signed(payload, timestamp=int(time.time()) - 3 * 86400),
            "unsigned": lambda: json.dumps(payload["event-data"]).encode(),
            "altered token": lambda: mailgun_signed(payload).replace(b'"a8ce', b'"b8ce'),
            }[forge]()
    response = client.post("/webhooks/mailgun", content=body)
    assert response.status_code == status, response.text
    assert suppressed(stores, "slava@mailgun.com") == set()


def test_a_mailgun_token_is_taken_once(client: TestClient) -> None:
    body = mailgun_signed(sample("mailgun-failed-permanent.json"))
    assert client.post("/webhooks/mailgun", content=body).status_code == 200
    assert client.post("/webhooks/mailgun", content=body).status_code == 403


@pytest.mark.parametrize("name, reader, actions", [
    ("mailgun-failed-delayed-bounce.json", "christest123@test.com", {"suppressed": 1}),
    ("mailgun-complained.json", "foo@example.com", {"complained": 1}),
    ("mailgun-unsubscribed.json", "recipient@example.com", {"unsubscribed": 1})])
def test_mailgun_list_hygiene_events_are_acted_on(
        client: TestClient, stores: Stores, name: str, reader: str,
        actions: dict[str, int]) -> None:
    subscriber = subscribe(stores, reader)
    response = client.post("/webhooks/mailgun", content=mailgun_signed(sample(name)))
    assert response.json() == {"events": 1, "actions": actions}
    assert stores.subscribers.get(subscriber).status.value == (
        "active" if "suppressed" in actions else "unsubscribed")
    assert suppressed(stores, reader) == ({reader} if "unsubscribed" not in actions else set())


def test_mailgun_giving_up_after_its_retries_is_a_soft_bounce_not_a_delay(
        client: TestClient, stores: Stores) -> None:
    """Reason `old` comes with severity `temporary` on the last attempt; the attempts
    before it (reason `generic`) are delays and count no soft bounce."""
    payload = sample("mailgun-failed-temporary.json")
    client.post("/webhooks/mailgun", content=mailgun_signed(payload, token="attempt-1"))
    assert soft_bounces(stores, "test@test.com") == 0
    payload["event-data"]["reason"] = "old"
    given_up = client.post("/webhooks/mailgun", content=mailgun_signed(payload, token="last"))
    assert given_up.json() == {"events": 1, "actions": {"counted": 1}}
    assert soft_bounces(stores, "test@test.com") == 1
    assert suppressed(stores, "test@test.com") == set()


def test_an_event_that_met_the_database_away_is_taken_when_the_provider_retries(
        client: TestClient, stores: Stores, database_url: str) -> None:
    """503 while the intake cannot write, and the POST forgotten as a replay, so the
    provider's retry of the very same POST is acted on. The database is made away by
    renaming the table the intake writes (SQLite reports that as it reports a database
    that does not answer; PostgreSQL as an undefined table, which mailer.db reads as an
    outage too)."""
    body = mailgun_signed(sample("mailgun-failed-permanent.json"))
    with stores.sessions.begin() as session:
        session.execute(text("ALTER TABLE feedback RENAME TO feedback_away"))
    try:
        away = client.post("/webhooks/mailgun", content=body)
    finally:
        with stores.sessions.begin() as session:
            session.execute(text("ALTER TABLE feedback_away RENAME TO feedback"))
    assert away.status_code == 503, away.text
    assert suppressed(stores, "slava@mailgun.com") == set(), "nothing half done"
    retried = client.post("/webhooks/mailgun", content=body)
    assert retried.json() == {"events": 1, "actions": {"suppressed": 1}}
    assert suppressed(stores, "slava@mailgun.com") == {"slava@mailgun.com"}


# Postmark

def test_a_postmark_bounce_and_complaint_are_acted_on(client: TestClient,
                                                     stores: Stores) -> None:
    reader = subscribe(stores, "john@example.com")
    bounce = client.post("/webhooks/postmark", json=sample("postmark-bounce.json"),
                         headers=basic(*POSTMARK))
    assert bounce.json() == {"events": 1, "actions": {"suppressed": 1}}
    complaint = client.post("/webhooks/postmark", json=sample("postmark-spam-complaint.json"),
                            headers=basic(*POSTMARK))
    assert complaint.json() == {"events": 1, "actions": {"complained": 1}}
    assert stores.subscribers.get(reader).status.value == "unsubscribed"


@pytest.mark.parametrize("credentials, status", [
    (None, 401), (("postmark-hook", "wrong"), 403), (("someone", POSTMARK[1]), 403)])
def test_postmark_without_its_credentials_is_refused(
        client: TestClient, stores: Stores, credentials: tuple[str, str] | None,
        status: int) -> None:
    headers = basic(*credentials) if credentials else {}
    response = client.post("/webhooks/postmark", json=sample("postmark-bounce.json"),
                           headers=headers)
    assert response.status_code == status
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Basic")
    assert suppressed(stores, "john@example.com") == set()


@pytest.mark.parametrize("reason, actions, status", [
    ("HardBounce", {"suppressed": 1}, "active"),
    ("SpamComplaint", {"complained": 1}, "unsubscribed"),
    ("ManualSuppression", {"unsubscribed": 1}, "unsubscribed"),
    (None, {}, "active")])
def test_a_postmark_subscription_change_is_read_by_its_suppression_reason(
        client: TestClient, stores: Stores, reason: str | None, actions: dict[str, int],
        status: str) -> None:
    """Broadcast streams (a newsletter's) get no Bounce or SpamComplaint webhook: they
    come as a SubscriptionChange. The documented one is a HardBounce; the others change
    only SuppressionReason (None with SuppressSending false: a reactivation)."""
    reader = subscribe(stores, "bounced-address@wildbit.com")
    change = sample("postmark-subscription-change.json")
    assert change["SuppressionReason"] == "HardBounce"
    change.update(SuppressionReason=reason, SuppressSending=reason is not None)
    response = client.post("/webhooks/postmark", json=change, headers=basic(*POSTMARK))
    assert response.json() == {"events": len(actions), "actions": actions}
    assert stores.subscribers.get(reader).status.value == status


# SendGrid

def test_sendgrid_events_are_acted_on_each_as_documented(
        client: TestClient, stores: Stores, sendgrid: SendgridSigner) -> None:
    reader = subscribe(stores, "example@test.com")
    body = json.dumps(sample("sendgrid-events.json")).encode()
    response = client.post("/webhooks/sendgrid", content=body, headers=sendgrid.headers(body))
    assert response.status_code == 200, response.text
    # deferred; bounce; dropped (Bounced Address); spamreport; unsubscribe; group_unsubscribe
    assert response.json() == {"events": 6, "actions": {
        "counted": 1, "suppressed": 2, "complained": 1, "unsubscribed": 2}}
    assert suppressed(stores, "example@test.com") == {"example@test.com"}
    assert stores.subscribers.get(reader).status.value == "unsubscribed"


@pytest.mark.parametrize("forge, status", [
    ("altered", 403), ("unsigned", 401), ("other key", 403), ("old", 403), ("replayed", 403)])
def test_a_forged_sendgrid_post_is_refused(client: TestClient, stores: Stores,
                                           sendgrid: SendgridSigner, forge: str,
                                           status: int) -> None:
    body = json.dumps(sample("sendgrid-events.json")).encode()
    headers = sendgrid.headers(body)
    if forge == "altered":
        body = body.replace(b'"bounce"', b'"spamreport"')
    elif forge == "unsigned":
        headers = {"content-type": "application/json"}
    elif forge == "other key":
        headers = SendgridSigner().headers(body)
    elif forge == "old":
        headers = sendgrid.headers(body, timestamp=int(time.time()) - 3 * 86400)
    else:
        assert client.post("/webhooks/sendgrid", content=body, headers=headers
                           ).status_code == 200
        stores.suppressions.remove("example@test.com")
    response = client.post("/webhooks/sendgrid", content=body, headers=headers)
    assert response.status_code == status, response.text
    assert suppressed(stores, "example@test.com") == set()


def test_a_sendgrid_bounce_is_hard_and_a_blocked_one_soft(
        client: TestClient, stores: Stores, sendgrid: SendgridSigner) -> None:
    """The documented Bounce and Blocked examples: both `event: bounce`, told apart by
    `type`; a blocked message is a soft bounce, counted, not suppressed."""
    events = sample("sendgrid-bounce-blocked.json")
    assert [e["type"] for e in events] == ["bounce", "blocked"]
    blocked = json.dumps(events[1:]).encode()
    response = client.post("/webhooks/sendgrid", content=blocked,
                           headers=sendgrid.headers(blocked))
    assert response.json() == {"events": 1, "actions": {"counted": 1}}
    assert suppressed(stores, "example@test.com") == set()
    assert soft_bounces(stores, "example@test.com") == 1
    bounced = json.dumps(events[:1]).encode()
    response = client.post("/webhooks/sendgrid", content=bounced,
                           headers=sendgrid.headers(bounced))
    assert response.json() == {"events": 1, "actions": {"suppressed": 1}}
    assert suppressed(stores, "example@test.com") == {"example@test.com"}


# Configuration

def test_a_provider_not_configured_has_no_route(make_settings: Callable[..., Settings],
                                                redis_client: redis.Redis) -> None:
    with TestClient(create_app(make_settings())) as test_client:
        for name in ("ses", "mailgun", "postmark", "sendgrid"):
            assert test_client.post(f"/webhooks/{name}", content=b"{}").status_code == 404
