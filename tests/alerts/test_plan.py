"""Planning breaking-news alerts on a real database and Redis (no worker: the batches
stay on the alerts lane, where the test reads them): quiet hours in each reader's own
zone and their choice for the night, the daily cap, one alert a story, cancelling."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
import redis
from sqlalchemy import select, update

from mailer import services
from mailer.articles.model import Article
from mailer.config import Settings
from mailer.delivery.ledger import JobStatus, Kind
from mailer.digest.runs import RunStatus
from mailer.models import DeliveryRow
from mailer.queue import ALERT_PLAN_TASK, ALERT_QUEUE, DIGEST_BATCH_TASK
from mailer.stores import Stores
from mailer.subscriptions.model import Preferences, SignUp
from worker.producer import CeleryJobQueue

STORY = Article.model_validate({
    "id": "parliament-vote", "title": "Parliament votes on the budget", "section": "Politics",
    "published": "2026-12-04T13:55:00+04:00", "url": "https://www.today.az/vote.html",
    "lead": "The vote is in."})
# 10:00 UTC: 14:00 in Baku, 23:00 in Auckland, 05:00 in New York.
BROKE = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)


@pytest.fixture
def make_settings(make_backend_settings: Callable[..., Settings]) -> Callable[..., Settings]:
    """These tests run on each database backend."""
    return make_backend_settings


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(digest_batch_size=2)


@pytest.fixture
def stores(settings: Settings, redis_client: redis.Redis) -> Iterator[Stores]:
    with services.stores(settings, seed=False) as opened:
        opened.articles.put_many([STORY])
        yield opened


def reader(stores: Stores, email: str, zone: str, at_night: str = "morning",
           sections: tuple[str, ...] = ("politics",)) -> str:
    return stores.subscribers.add_active(SignUp(email, "", Preferences(
        ("economy",), zone, 7, (("breaking", sections),), at_night))).id


def alerted(stores: Stores) -> set[str]:
    with stores.sessions.begin() as session:
        return set(session.scalars(select(DeliveryRow.recipient)
                                   .where(DeliveryRow.kind == Kind.ALERT.value)))


def lane(redis_client: redis.Redis, queue: str = ALERT_QUEUE
         ) -> list[tuple[str, dict[str, object]]]:
    """The tasks waiting on a lane, oldest first: (name, payload)."""
    jobs = []
    for raw in reversed(redis_client.lrange(queue, 0, -1)):
        message = json.loads(raw)
        jobs.append((message["headers"]["task"],
                     json.loads(base64.b64decode(message["body"]))[0][0]))
    return jobs


def test_an_alert_reaches_readers_where_it_is_day_and_waits_where_it_is_night(
        stores: Stores, settings: Settings, redis_client: redis.Redis) -> None:
    for i in range(3):
        reader(stores, f"baku{i}@example.com", "Asia/Baku")
    reader(stores, "auckland@example.com", "Pacific/Auckland")
    reader(stores, "newyork@example.com", "America/New_York")
    reader(stores, "newyork-digest@example.com", "America/New_York", at_night="digest")
    reader(stores, "economy@example.com", "Asia/Baku", sections=("economy",))
    queue = CeleryJobQueue(settings)
    planner = services.make_alert_planner(settings, stores, queue)
    run, new = planner.publish(STORY.id, BROKE)
    assert new and lane(redis_client) == [(ALERT_PLAN_TASK, {"run_id": run.id})], \
        "the API only queues the planning, on the alerts lane"
    again, new_again = planner.publish(STORY.id, BROKE + timedelta(minutes=5))
    assert (again.id, new_again) == (run.id, False), "one alert a story"

    assert planner.plan(run.id, BROKE) == 3
    assert alerted(stores) == {f"baku{i}@example.com" for i in range(3)}
    batches = [job for task, job in lane(redis_client) if task == DIGEST_BATCH_TASK]
    assert [len(job["ids"]) for job in batches] == [2, 1]  # type: ignore[arg-type]
    assert planner.plan(run.id, BROKE) == 0, "planned once"

    assert planner.sweep(BROKE + timedelta(hours=1)) == 0, "still night in both"
    assert planner.sweep(BROKE + timedelta(hours=2)) == 1, "07:00 in New York"
    assert planner.sweep(BROKE + timedelta(hours=8)) == 1, "07:00 in Auckland"
    assert alerted(stores) >= {"auckland@example.com", "newyork@example.com"}
    assert "newyork-digest@example.com" not in alerted(stores), \
        "who chose the digest for the night gets the story there"
    assert stores.runs.get(run.id).total == 5
    assert planner.sweep(BROKE + timedelta(hours=20)) == 0, "too old to wake anyone with"
    queue.close()


def test_no_reader_gets_more_than_the_daily_cap(
        make_settings: Callable[..., Settings], stores: Stores,
        redis_client: redis.Redis) -> None:
    settings = make_settings(alert_daily_cap=2)
    reader(stores, "leyla@example.com", "Asia/Baku")
    queue = CeleryJobQueue(settings)
    planner = services.make_alert_planner(settings, stores, queue)
    stories = [STORY.model_copy(update={"id": f"story-{i}"}) for i in range(3)]
    stores.articles.put_many(stories)
    planned = [planner.plan(planner.publish(s.id, BROKE)[0].id, BROKE + timedelta(minutes=i))
               for i, s in enumerate(stories)]
    assert planned == [1, 1, 0], "the third story of the day is left to the digest"
    tomorrow = BROKE + timedelta(days=1)
    fourth = STORY.model_copy(update={"id": "story-next-day"})
    stores.articles.put_many([fourth])
    assert planner.plan(planner.publish(fourth.id, tomorrow)[0].id, tomorrow) == 1, \
        "a new day in the reader's zone, a new count"
    queue.close()


def test_the_cap_counts_each_readers_own_alerts_that_went_somewhere(
        make_settings: Callable[..., Settings], stores: Stores,
        redis_client: redis.Redis) -> None:
    """The cap is read for all of a page's readers at once (those already at it are
    left out): one reader at the cap keeps no one else from an alert, and an alert
    that went nowhere (skipped) does not count."""
    settings = make_settings(alert_daily_cap=2)
    for name in ("leyla", "rashad", "nigar"):
        reader(stores, f"{name}@example.com", "Asia/Baku")
    queue = CeleryJobQueue(settings)
    planner = services.make_alert_planner(settings, stores, queue)
    stories = [STORY.model_copy(update={"id": f"story-{i}"}) for i in range(3)]
    stores.articles.put_many(stories)

    def plan(i: int) -> set[str]:
        before = alerted_rows(stores)
        planner.plan(planner.publish(stories[i].id, BROKE)[0].id, BROKE + timedelta(minutes=i))
        return {email for email, _ in alerted_rows(stores) - before}

    assert plan(0) == {"leyla@example.com", "rashad@example.com", "nigar@example.com"}
    skipped = [id_ for email, id_ in alerted_rows(stores) if email == "rashad@example.com"]
    stores.ledger.record([(skipped[0], JobStatus.SKIPPED, "not sent: no longer chosen")])
    with stores.sessions.begin() as session:
        session.execute(update(DeliveryRow).where(DeliveryRow.recipient == "nigar@example.com")
                        .values(created_at=BROKE - timedelta(days=1)))
    assert plan(1) == {"leyla@example.com", "rashad@example.com", "nigar@example.com"}
    assert plan(2) == {"rashad@example.com", "nigar@example.com"}, \
        "Leyla has had two today; Rashad's first went nowhere, Nigar's was yesterday"
    queue.close()


def alerted_rows(stores: Stores) -> set[tuple[str, str]]:
    """(recipient, row id) of every alert row."""
    with stores.sessions.begin() as session:
        return {(email, id_) for email, id_ in session.execute(
            select(DeliveryRow.recipient, DeliveryRow.id)
            .where(DeliveryRow.kind == Kind.ALERT.value))}


def test_a_cancelled_alert_plans_no_one_more(stores: Stores, settings: Settings,
                                             redis_client: redis.Redis) -> None:
    reader(stores, "auckland@example.com", "Pacific/Auckland")
    queue = CeleryJobQueue(settings)
    planner = services.make_alert_planner(settings, stores, queue)
    run, _ = planner.publish(STORY.id, BROKE)
    assert planner.plan(run.id, BROKE) == 0
    stores.runs.cancel(run.id)
    assert stores.runs.get(run.id).status is RunStatus.CANCELLED
    assert planner.sweep(BROKE + timedelta(hours=8)) == 0
    assert alerted(stores) == set()
    queue.close()


def test_a_lost_alert_batch_goes_back_on_the_alerts_lane(
        stores: Stores, settings: Settings, redis_client: redis.Redis) -> None:
    reader(stores, "baku@example.com", "Asia/Baku")
    queue = CeleryJobQueue(settings)
    planner = services.make_alert_planner(settings, stores, queue)
    run, _ = planner.publish(STORY.id, BROKE)
    assert planner.plan(run.id, BROKE) == 1
    redis_client.delete(ALERT_QUEUE)  # the broker lost the batch
    sweep = services.make_planner(settings, stores, queue)
    assert sweep.requeue_stale(BROKE + timedelta(minutes=11), timedelta(minutes=10)) == 1
    [(task, job)] = lane(redis_client)
    assert task == DIGEST_BATCH_TASK and job["lane"] == ALERT_QUEUE
    assert redis_client.llen("digest") == 0, "not behind the digests"
    queue.close()
