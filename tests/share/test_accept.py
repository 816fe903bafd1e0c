"""Accepting a share on a real Redis and database: a repeat answers with the first
job, a share that was not recorded or was refused by a quota leaves no trace that
would turn the reader's next try into a "repeat" of nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from mailer import services
from mailer.config import Settings
from mailer.delivery.deliverer import Job
from mailer.errors import InvalidInput, NotFound, RateLimited, ServiceUnavailable
from mailer.share.accept import Accepted, ShareIntake
from mailer.stores import Stores
from tests.web.test_app import FORM

IP = "192.0.2.10"


@pytest.fixture
def stores(make_settings: Callable[..., Settings]) -> Iterator[Stores]:
    with services.stores(make_settings()) as opened:
        yield opened


def intake(settings: Settings, stores: Stores, client: redis.Redis) -> ShareIntake:
    return services.share_intake(settings, stores.articles, client)


class Recorder:
    """Stands where the API's group commit stands: what was handed on, or a failure."""

    def __init__(self, fail: bool = False) -> None:
        self.jobs: list[tuple[Job, dict[str, Any]]] = []
        self.fail = fail

    async def __call__(self, job: Job, payload: dict[str, Any]) -> None:
        if self.fail:
            raise ServiceUnavailable("database away")
        self.jobs.append((job, payload))


def accept(share_intake: ShareIntake, record: Recorder, fields: dict[str, object] = FORM,
           key: str | None = None) -> Accepted:
    return asyncio.run(share_intake.accept(fields, record, client_ip=IP, idempotency_key=key))


def test_a_share_is_handed_on_with_its_normalised_fields(
        make_settings: Callable[..., Settings], stores: Stores,
        redis_client: redis.Redis) -> None:
    record = Recorder()
    accepted = accept(intake(make_settings(), stores, redis_client), record,
                      {**FORM, "sender_email": " AYSEL@example.com "})
    [(job, payload)] = record.jobs
    assert accepted == Accepted(job.id, repeat=False)
    assert job.recipient == FORM["friend_email"] and job.reference == FORM["article_id"]
    assert payload["job_id"] == job.id
    assert payload["share"]["sender_email"] == "AYSEL@example.com"


def test_the_same_share_again_is_the_first_job_and_is_not_handed_on(
        make_settings: Callable[..., Settings], stores: Stores,
        redis_client: redis.Redis) -> None:
    share_intake, record = intake(make_settings(), stores, redis_client), Recorder()
    first = accept(share_intake, record)
    again = accept(share_intake, record, {**FORM, "message": "A new note."})
    assert again == Accepted(first.job_id, repeat=True)
    assert len(record.jobs) == 1


def test_a_share_that_was_not_recorded_is_no_repeat(
        make_settings: Callable[..., Settings], stores: Stores,
        redis_client: redis.Redis) -> None:
    share_intake = intake(make_settings(), stores, redis_client)
    with pytest.raises(ServiceUnavailable):
        accept(share_intake, Recorder(fail=True), key="retry-1")
    record = Recorder()
    retried = accept(share_intake, record, key="retry-1")
    assert not retried.repeat and len(record.jobs) == 1


def test_a_share_refused_by_a_quota_is_refused_again_not_called_a_repeat(
        make_settings: Callable[..., Settings], stores: Stores,
        redis_client: redis.Redis) -> None:
    settings = make_settings(share_limit_per_sender="1/h")
    share_intake, record = intake(settings, stores, redis_client), Recorder()
    accept(share_intake, record)
    other_friend = {**FORM, "friend_email": "leyla@example.org"}
    for _ in range(2):
        with pytest.raises(RateLimited):
            accept(share_intake, record, other_friend)
    assert len(record.jobs) == 1


def test_bad_fields_and_unknown_articles_are_the_readers_to_fix(
        make_settings: Callable[..., Settings], stores: Stores,
        redis_client: redis.Redis) -> None:
    share_intake, record = intake(make_settings(), stores, redis_client), Recorder()
    with pytest.raises(InvalidInput) as bad:
        accept(share_intake, record, {**FORM, "friend_email": "a, b@example.org"})
    assert "friend_email" in bad.value.errors
    with pytest.raises(NotFound):
        accept(share_intake, record, {**FORM, "article_id": "no-such-article"})
    assert record.jobs == []


def test_an_operators_share_is_recorded_and_queued_every_time(
        make_settings: Callable[..., Settings], stores: Stores,
        redis_client: redis.Redis) -> None:
    settings = make_settings()
    share_intake = ShareIntake(articles=stores.articles)
    with services.job_queue(settings) as queue:
        ids = [share_intake.submit(FORM, ledger=stores.ledger, queue=queue) for _ in range(2)]
    assert ids[0] != ids[1]
    assert [stores.ledger.get(i).status for i in ids] == ["queued", "queued"]  # type: ignore[union-attr]
    assert redis_client.llen("share") == 2
