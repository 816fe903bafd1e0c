"""Each Celery task called in the test process as a worker calls it, on a real Redis,
a real SQLite database and the real SMTP test server; no Celery worker, no eager mode.
A retry is Celery's own: published to Redis and raised as `Retry`."""

from __future__ import annotations

import base64
import json
import logging
import os
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
import redis
from celery import Celery, Task
from celery.exceptions import Retry
from sqlalchemy import select, update

from mailer import services
from mailer.config import Settings
from mailer.delivery.ledger import JobStatus
from mailer.errors import ConfigError
from mailer.local.embedded import free_port
from mailer.models import DeliveryRow, SubscriberRow, utcnow
from mailer.queue import CONFIRM_TASK, DIGEST_BATCH_TASK, SHARE_QUEUE, SHARE_TASK
from mailer.share.accept import ShareIntake
from mailer.stores import Stores
from mailer.subscriptions.model import Preferences, SignUp
from mailer.subscriptions.signup import submit_signup
from mailer.tokens import ReturnPaths
from tests.digest.test_compose import ARTICLES, EDITION
from tests.support.smtp import RecordingHandler
from worker.factory import create_celery
from worker.process_services import KEY, services_for, shut_down_services
from worker.producer import CeleryJobQueue
from worker.tasks import (
    deliver_confirm,
    deliver_share,
    expire_pending,
    plan_digests,
    requeue_lost,
    send_digest_batch,
)

ARTICLE = "non-aligned-movement-support-to-azerbaijan-over-karabakh-significant"
BAKU = Preferences(("politics",), "Asia/Baku", 7)


def close_app(app: Celery) -> None:
    built = app.conf.get(KEY)
    if built is not None:
        built.services.close()
    app.close()


@pytest.fixture
def settings(make_settings: Callable[..., Settings], redis_client: redis.Redis) -> Settings:
    return make_settings()


@pytest.fixture
def app(settings: Settings) -> Iterator[Celery]:
    app = create_celery(settings)
    yield app
    close_app(app)


@pytest.fixture
def stores(settings: Settings) -> Iterator[Stores]:
    with services.stores(settings) as opened:
        yield opened


def run(app: Celery, task: Task, *args: Any) -> Any:
    """The task's body in this process, on `app`, under a request as a worker makes
    one: not "called directly", so Celery's retry publishes the retry and raises."""
    bound = app.tasks[task.name]
    bound.push_request(id=uuid4().hex, args=list(args), kwargs={}, retries=0,
                       called_directly=False)
    try:
        return bound.run(*args)
    finally:
        bound.pop_request()


def queued(client: redis.Redis, queue: str) -> list[tuple[str, list[Any]]]:
    """The jobs waiting on a broker queue: each task's name and its arguments."""
    jobs = []
    for raw in client.lrange(queue, 0, -1):
        message = json.loads(raw)
        args, _, _ = json.loads(base64.b64decode(message["body"]))
        jobs.append((message["headers"]["task"], args))
    return jobs


def payload_of(stores: Stores, kind: str) -> dict[str, Any]:
    with stores.sessions.begin() as session:
        [row] = session.scalars(select(DeliveryRow).where(DeliveryRow.kind == kind))
        return dict(json.loads(row.payload or "{}"))


def share(stores: Stores, settings: Settings, to: str = "friend@example.org") -> str:
    queue = CeleryJobQueue(settings)
    job_id = ShareIntake(articles=stores.articles).submit(
        {"article_id": ARTICLE, "sender_name": "Aysel", "sender_email": "aysel@example.com",
         "friend_name": "Friend", "friend_email": to}, ledger=stores.ledger, queue=queue)
    queue.close()
    return job_id


def status(stores: Stores, job_id: str) -> JobStatus | None:
    record = stores.ledger.get(job_id)
    return None if record is None else record.status


def test_a_share_is_delivered(app: Celery, settings: Settings, stores: Stores,
                              smtp: RecordingHandler) -> None:
    job_id = share(stores, settings)
    assert run(app, deliver_share, payload_of(stores, "share")) == "sent"
    assert [r.rcpt_tos for r in smtp.received] == [("friend@example.org",)]
    assert status(stores, job_id) is JobStatus.SENT


def test_a_deferred_share_comes_back_after_its_outcome_s_delay(
        app: Celery, settings: Settings, stores: Stores, smtp: RecordingHandler,
        redis_client: redis.Redis) -> None:
    job_id = share(stores, settings)
    redis_client.delete(SHARE_QUEUE)
    smtp.script("friend@example.org", "451 4.7.1 Try again later")
    with pytest.raises(Retry) as retry:
        run(app, deliver_share, payload_of(stores, "share"))
    assert isinstance(retry.value.when, int | float) and retry.value.when > 0
    assert queued(redis_client, SHARE_QUEUE) == [(SHARE_TASK, [payload_of(stores, "share")])]
    assert status(stores, job_id) is JobStatus.DEFERRED


def test_a_confirmation_is_delivered(app: Celery, settings: Settings, stores: Stores,
                                     smtp: RecordingHandler) -> None:
    queue = CeleryJobQueue(settings)
    submit_signup({"email": "leyla@example.org", "name": "Leyla", "sections": ["politics"],
                   "newsletters": {"weekly": ["culture", "economy"]}, "hour": 7,
                   "timezone": "Asia/Baku"},
                  catalog=services.make_catalog(settings),
                  default=services.default_preferences(settings),
                  store=stores.subscribers, ledger=stores.ledger, queue=queue,
                  resend_after=timedelta(0), offered={"weekly": ("culture", "economy")})
    queue.close()
    payload = payload_of(stores, "confirm")
    assert run(app, deliver_confirm, payload) == "sent"
    assert [r.rcpt_tos for r in smtp.received] == [("leyla@example.org",)]
    text = smtp.received[0].message.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert "- Daily digest, every day at 07:00, Baku time: Politics\n" in text
    assert "- The week in review, every Sunday at 07:00, Baku time: Economy, Culture" \
        in text, "one confirmation covers every newsletter chosen"
    assert status(stores, payload["job_id"]) is JobStatus.SENT


def test_a_digest_is_planned_then_its_batch_sent(app: Celery, stores: Stores,
                                                  smtp: RecordingHandler,
                                                  redis_client: redis.Redis) -> None:
    stores.articles.put_many(ARTICLES)
    for address in ("aysel@example.org", "leyla@example.org"):
        stores.subscribers.add_active(SignUp(address, "", BAKU))
    summary = run(app, plan_digests, {"edition": EDITION.isoformat()})
    assert summary.startswith("planned 2 in 1 batch(es)")
    [(task, [batch])] = queued(redis_client, "digest")
    assert task == DIGEST_BATCH_TASK and len(batch["ids"]) == 2
    assert run(app, send_digest_batch, batch) == "done"
    assert sorted(r.rcpt_tos for r in smtp.received) == [("aysel@example.org",),
                                                         ("leyla@example.org",)]


def test_the_sweep_requeues_a_share_whose_task_was_lost(
        app: Celery, settings: Settings, stores: Stores, redis_client: redis.Redis) -> None:
    job_id = share(stores, settings)
    redis_client.delete(SHARE_QUEUE)  # the broker lost it
    with stores.sessions.begin() as session:
        session.execute(update(DeliveryRow).values(updated_at=utcnow() - timedelta(hours=1)))
    assert run(app, requeue_lost) == 1
    assert [(task, job["job_id"]) for task, [job] in queued(redis_client, SHARE_QUEUE)] == [
        (SHARE_TASK, job_id)]


def test_the_expiry_forgets_sign_ups_never_confirmed(app: Celery, stores: Stores) -> None:
    stores.subscribers.sign_up(SignUp("old@example.org", "", BAKU), timedelta(0))
    stores.subscribers.sign_up(SignUp("new@example.org", "", BAKU), timedelta(0))
    with stores.sessions.begin() as session:
        session.execute(update(SubscriberRow).where(SubscriberRow.email == "old@example.org")
                        .values(created_at=utcnow() - timedelta(hours=49)))
    assert run(app, expire_pending) == 1
    assert [s.email for s in stores.subscribers.list()] == ["new@example.org"]


@pytest.fixture(params=["schema not migrated", "database away"])
def database_away(request: pytest.FixtureRequest, make_settings: Callable[..., Settings],
                  redis_client: redis.Redis, tmp_path: Path) -> Iterator[Celery]:
    """An app whose database is an empty SQLite file (ConfigError) or a PostgreSQL
    port nothing listens on (ServiceUnavailable)."""
    url = (f"sqlite:///{tmp_path / 'empty.db'}" if request.param == "schema not migrated"
           else f"postgresql://postgres@127.0.0.1:{free_port()}/mailer")
    app = create_celery(make_settings(database_url=url))
    yield app
    close_app(app)


SHARE = {"job_id": "j1", "share": {}}


@pytest.mark.parametrize(("task", "payload", "countdown", "warning"), [
    (deliver_share, SHARE, 5, "share j1: "),
    (deliver_confirm, {"job_id": "j2", "subscriber_id": "s"}, 5, "confirm j2: "),
    (plan_digests, None, 30, "digest planning: "),
    (send_digest_batch, {"ids": ["a", "b"], "run_id": "r"}, 10, "digest batch of 2: "),
])
def test_a_database_away_is_retried_after_the_declared_countdown(
        database_away: Celery, redis_client: redis.Redis, caplog: pytest.LogCaptureFixture,
        task: Task, payload: dict[str, Any] | None, countdown: int, warning: str) -> None:
    with caplog.at_level(logging.WARNING, "mailer.worker"), pytest.raises(Retry) as retry:
        run(database_away, task, *([payload] if payload is not None else []))
    assert retry.value.when == countdown
    [record] = caplog.records
    assert record.getMessage().startswith(warning)
    assert record.getMessage().endswith(f"; retrying in {countdown} s")
    assert [job for queue in (SHARE_QUEUE, "digest") for job in queued(redis_client, queue)
            ] == [(task.name, [payload] if payload is not None else [])]
    assert database_away.conf.get(KEY) is None  # nothing half-built is kept


def test_the_sweep_waits_for_the_next_one_when_the_database_is_away(
        database_away: Celery, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "mailer.worker"):
        assert run(database_away, requeue_lost) == 0
    assert "next sweep will try again" in caplog.text


def test_the_expiry_is_not_retried(tmp_path: Path, make_settings: Callable[..., Settings],
                                   redis_client: redis.Redis) -> None:
    app = create_celery(make_settings(database_url=f"sqlite:///{tmp_path / 'empty.db'}"))
    with pytest.raises(ConfigError):
        run(app, expire_pending)
    app.close()


def test_services_are_built_once_a_process_and_again_after_a_fork(
        app: Celery, smtp: RecordingHandler) -> None:
    services = services_for(app)
    assert services_for(app) is services
    pid = os.fork()
    if pid == 0:
        os._exit(0 if services_for(app) is not services
                 and app.conf[KEY].pid == os.getpid() else 1)
    _, code = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(code) == 0
    assert services_for(app) is services


def test_shutting_down_says_quit_to_the_relays(app: Celery, settings: Settings,
                                               stores: Stores, smtp: RecordingHandler) -> None:
    share(stores, settings)
    run(app, deliver_share, payload_of(stores, "share"))
    quits = smtp.quits
    shut_down_services(app)
    assert smtp.quits == quits + 1


def test_task_names_are_the_wire_contract() -> None:
    assert (deliver_share.name, deliver_confirm.name) == (SHARE_TASK, CONFIRM_TASK)


def test_with_a_bounce_address_shares_and_confirmations_return_to_their_own_path(
        make_settings: Callable[..., Settings], redis_client: redis.Redis,
        smtp: RecordingHandler) -> None:
    settings = make_settings(bounce_address="bounces@bounces.today.az")
    app = create_celery(settings)
    try:
        with services.stores(settings) as stores:
            job_id = share(stores, settings)
            assert run(app, deliver_share, payload_of(stores, "share")) == "sent"
            with services.job_queue(settings) as queue:
                submit_signup({"email": "leyla@example.org"},
                              catalog=services.make_catalog(settings),
                              default=services.default_preferences(settings),
                              store=stores.subscribers, ledger=stores.ledger, queue=queue,
                              resend_after=timedelta(0))
            confirm = payload_of(stores, "confirm")
            assert run(app, deliver_confirm, confirm) == "sent"
    finally:
        close_app(app)
    paths = ReturnPaths(settings.secret_key.get_secret_value(), settings.bounce_address)
    assert [paths.read(r.mail_from).message_id for r in smtp.received] == [
        job_id, confirm["job_id"]]
