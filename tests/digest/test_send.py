"""DigestSender against a real database, a real SMTP server and real Redis: each
message once, deferrals, suppression, send-rate limits and the automatic pause."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import redis
from sqlalchemy import select, update

from mailer import services
from mailer.config import Settings
from mailer.delivery.ledger import JobStatus
from mailer.digest.plan import ArticleDays
from mailer.digest.send import DigestSender
from mailer.models import DeliveryRow
from mailer.ops.status import collect, relay_states
from mailer.services import (
    make_digest_mail,
    make_failure_window,
    make_planner,
    make_relay_pool,
    retry_policy,
)
from mailer.stores import Stores
from mailer.subscriptions.model import Preferences, SignUp
from mailer.tokens import ReturnPaths
from tests.digest.test_compose import ARTICLES, EDITION
from tests.support.smtp import RecordingHandler
from worker.producer import CeleryJobQueue


def plan(settings: Settings, count: int) -> tuple[Stores, list[str], str]:
    """`count` active Baku subscribers with edition 26 November planned for them."""
    stores = services.stores(settings, seed=False)
    stores.articles.put_many(ARTICLES)
    for i in range(count):
        stores.subscribers.add_active(SignUp(f"reader{i}@example.org", f"Reader {i}",
                                             Preferences(("politics",), "Asia/Baku", 7)))
    queue = CeleryJobQueue(settings)
    report = make_planner(settings, stores, queue).plan(datetime.now(UTC), EDITION)
    queue.close()
    assert report.planned == count and report.run_id
    with stores.sessions.begin() as session:
        ids = list(session.scalars(select(DeliveryRow.id).where(DeliveryRow.kind == "digest")
                                   .order_by(DeliveryRow.recipient)))
    return stores, ids, report.run_id


@pytest.fixture
def planned(make_settings: Callable[..., Settings], redis_client: redis.Redis
            ) -> tuple[Settings, Stores, list[str]]:
    settings = make_settings()
    stores, ids, _ = plan(settings, 3)
    return settings, stores, ids


def sender_for(settings: Settings, stores: Stores) -> DigestSender:
    client = redis.Redis.from_url(settings.redis_url)
    return DigestSender(ledger=stores.ledger, subscribers=stores.subscribers,
                        days=ArticleDays(stores.articles), mail=make_digest_mail(settings),
                        backend=make_relay_pool(settings, client).lane("bulk"),
                        retry=retry_policy(settings), lease_seconds=60,
                        suppressions=stores.suppressions, runs=stores.runs,
                        failures=make_failure_window(settings, client))


def statuses(stores: Stores) -> dict[str, str]:
    with stores.sessions.begin() as session:
        return {r.recipient: r.status for r in session.scalars(select(DeliveryRow))}


def test_batch_sends_each_once_even_when_delivered_again(
        planned: tuple[Settings, Stores, list[str]], smtp: RecordingHandler) -> None:
    settings, stores, ids = planned
    sender = sender_for(settings, stores)
    outcome = sender.send_batch(ids)
    assert (outcome.sent, outcome.failed, outcome.skipped, outcome.deferred) == (3, 0, 0, [])
    again = sender.send_batch(ids)  # a redelivered batch
    assert (again.sent, again.skipped) == (0, 0)
    assert sorted(r.rcpt_tos[0] for r in smtp.received) == [
        f"reader{i}@example.org" for i in range(3)]
    assert set(statuses(stores).values()) == {"sent"}


def test_unsubscribed_skipped_451_deferred_then_sent_550_failed_and_suppressed(
        planned: tuple[Settings, Stores, list[str]], smtp: RecordingHandler) -> None:
    settings, stores, ids = planned
    gone = stores.subscribers.find("reader0@example.org")
    assert gone is not None
    stores.subscribers.unsubscribe(gone.id)
    smtp.script("reader1@example.org", "451 4.7.1 later", "421 4.7.0 try again later")
    smtp.refuse_rcpt["reader2@example.org"] = "550 5.1.1 no such user"
    sender = sender_for(settings, stores)
    first = sender.send_batch(ids)
    assert (first.sent, first.failed, first.skipped) == (0, 1, 1)
    assert len(first.deferred) == 1 and first.retry_in > 0
    second = sender.send_batch(first.deferred)
    assert len(second.deferred) == 1, "a digest is deferred again until its window closes"
    third = sender.send_batch(second.deferred)
    assert (third.sent, third.deferred) == (1, [])
    assert statuses(stores) == {"reader0@example.org": "skipped",
                                "reader1@example.org": "sent",
                                "reader2@example.org": "failed"}
    assert stores.suppressions.suppressed(["Reader2@example.org"]) == {"reader2@example.org"}
    # Any later send to the bounced address is recorded, not attempted.
    del smtp.refuse_rcpt["reader2@example.org"]
    with stores.sessions.begin() as session:
        session.execute(update(DeliveryRow).where(DeliveryRow.recipient == "reader2@example.org")
                        .values(status="queued"))
    assert sender.send_batch(ids).skipped == 1
    assert statuses(stores)["reader2@example.org"] == "suppressed"
    assert [r.rcpt_tos[0] for r in smtp.received] == ["reader1@example.org"]


def test_content_refusal_fails_without_suppressing(
        planned: tuple[Settings, Stores, list[str]], smtp: RecordingHandler) -> None:
    settings, stores, ids = planned
    smtp.script("reader0@example.org", "554 5.7.1 message content rejected")
    outcome = sender_for(settings, stores).send_batch(ids)
    assert (outcome.sent, outcome.failed) == (2, 1)
    assert stores.suppressions.suppressed(["reader0@example.org"]) == set()


def test_no_send_slot_hands_the_rest_back(
        make_settings: Callable[..., Settings], redis_client: redis.Redis,
        smtp: RecordingHandler) -> None:
    settings = make_settings(rate_limit="2/s", rate_reserve=0, rate_max_wait_seconds=0.3)
    stores, ids, _ = plan(settings, 3)
    outcome = sender_for(settings, stores).send_batch(ids)
    assert outcome.sent == 1 and len(outcome.throttled) == 2
    assert 0 < outcome.throttle_wait <= 0.5
    assert [statuses(stores)[f"reader{i}@example.org"] for i in range(3)] == [
        "sent", "queued", "queued"]
    assert len(smtp.received) == 1


def test_run_pauses_itself_when_mail_bounces_and_resumes(
        make_settings: Callable[..., Settings], redis_client: redis.Redis,
        smtp: RecordingHandler) -> None:
    settings = make_settings(pause_window=10, pause_failure_ratio=0.3)
    stores, ids, run_id = plan(settings, 14)
    for i in range(4):
        smtp.refuse_rcpt[f"reader{i}@example.org"] = "550 5.1.1 no such user"
    sender = sender_for(settings, stores)
    outcome = sender.send_batch(ids[:12], run_id)
    assert outcome.failed == 4 and outcome.sent == 8
    assert outcome.halted.startswith("paused automatically: 4 of the last 10 messages failed")
    run = stores.runs.get(run_id)
    assert run.status.value == "paused" and run.reason == outcome.halted
    held = sender.send_batch(ids[12:], run_id)
    assert held.sent == 0 and held.halted == f"run {run_id} is paused"
    assert len(smtp.received) == 8
    assert sorted(stores.runs.resume(run_id)) == sorted(ids[12:])
    assert sender.send_batch(ids[12:], run_id).sent == 2


def test_digest_past_its_window_is_expired_not_sent(
        planned: tuple[Settings, Stores, list[str]], smtp: RecordingHandler) -> None:
    settings, stores, ids = planned
    with stores.sessions.begin() as session:
        session.execute(update(DeliveryRow).values(
            expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    outcome = sender_for(settings, stores).send_batch(ids)
    assert (outcome.sent, outcome.failed, outcome.skipped) == (0, 0, 0)
    assert set(statuses(stores).values()) == {JobStatus.EXPIRED.value}
    assert smtp.received == []


def test_a_relay_that_refuses_us_pauses_the_run_and_blames_no_reader(
        make_settings: Callable[..., Settings], redis_client: redis.Redis,
        smtp: RecordingHandler) -> None:
    """Credentials missing at the relay: every RCPT refused with 554 5.7.1. No reader is
    suppressed, the messages wait, the relay is unhealthy and the run pauses with the
    reason; once the relay is fixed and the run resumed, everyone gets the digest."""
    settings = make_settings()
    stores, ids, run_id = plan(settings, 4)
    for i in range(4):
        smtp.refuse_rcpt[f"reader{i}@example.org"] = (
            f"554 5.7.1 <reader{i}@example.org>: Relay access denied")
    sender = sender_for(settings, stores)
    outcome = sender.send_batch(ids, run_id)
    assert (outcome.sent, outcome.failed, len(outcome.deferred)) == (0, 0, 4)
    assert outcome.halted.startswith("the relay refused us: ")
    assert "Relay access denied" in outcome.halted
    run = stores.runs.get(run_id)
    assert run.status.value == "paused" and "Relay access denied" in run.reason
    assert stores.suppressions.suppressed(f"reader{i}@example.org" for i in range(4)) == set()
    assert set(statuses(stores).values()) == {"deferred"}
    [relay] = relay_states(settings, redis_client)
    assert not relay.healthy and "Relay access denied" in relay.reason
    status = collect(settings, stores, redis_client, CeleryJobQueue(settings), max_age=300,
                     timeout=0.2)
    assert any(p.startswith(f"relay {relay.id} is unhealthy") for p in status.problems)

    smtp.refuse_rcpt.clear()
    assert sorted(stores.runs.resume(run_id)) == sorted(ids)
    assert sender.send_batch(ids, run_id).sent == 4
    assert relay_states(settings, redis_client)[0].healthy


def test_a_421_mid_batch_defers_one_message_and_sends_the_rest(
        planned: tuple[Settings, Stores, list[str]], smtp: RecordingHandler) -> None:
    settings, stores, ids = planned
    smtp.script("reader1@example.org", "421 4.4.2 closing: too many messages")
    outcome = sender_for(settings, stores).send_batch(ids)
    assert outcome.sent == 2 and outcome.failed == 0 and outcome.throttled == []
    assert len(outcome.deferred) == 1
    with stores.sessions.begin() as session:
        rows = {r.recipient: r for r in session.scalars(select(DeliveryRow))}
    assert rows["reader1@example.org"].status == "deferred"
    assert "421 DATA: 4.4.2 closing: too many messages" in (rows["reader1@example.org"].last_reply
                                                            or "")
    assert {rows[f"reader{i}@example.org"].status for i in (0, 2)} == {"sent"}


def test_with_a_bounce_address_each_digest_returns_to_a_path_naming_it(
        make_settings: Callable[..., Settings], redis_client: redis.Redis,
        smtp: RecordingHandler) -> None:
    settings = make_settings(bounce_address="bounces@bounces.today.az")
    stores, ids, _ = plan(settings, 3)
    assert sender_for(settings, stores).send_batch(ids).sent == 3
    paths = ReturnPaths(settings.secret_key.get_secret_value(), settings.bounce_address)
    named = {paths.read(r.mail_from).message_id: r.rcpt_tos[0] for r in smtp.received}
    with stores.sessions.begin() as session:
        assert named == {row.id: row.recipient for row in session.scalars(select(DeliveryRow))}
    stores.close()
