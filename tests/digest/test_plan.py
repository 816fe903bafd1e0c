"""Digest planning on a real database and a real Redis broker (no worker here: the
batches stay on the `digest` queue where the test reads them)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import redis
from sqlalchemy import update

from mailer import services
from mailer.articles.model import Article
from mailer.config import Settings
from mailer.delivery.ledger import JobStatus, Kind
from mailer.digest.plan import Variant, due_edition, edition_bounds, in_sections
from mailer.models import DeliveryRow
from mailer.services import make_planner
from mailer.stores import Stores
from mailer.subscriptions.model import Preferences, SignUp
from tests.conftest import empty_database
from tests.support.smtp import RecordingHandler
from worker.producer import CeleryJobQueue

EDITION = date(2026, 11, 26)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def test_due_at_the_local_hour_for_the_day_before() -> None:
    assert due_edition(at("2026-11-27T06:59:00+04:00"), "Asia/Baku", 7, 5) is None
    assert due_edition(at("2026-11-27T07:00:00+04:00"), "Asia/Baku", 7, 5) == (
        EDITION, at("2026-11-27T12:00:00+04:00"))
    assert due_edition(at("2026-11-27T11:59:00+04:00"), "Asia/Baku", 7, 5) is not None
    assert due_edition(at("2026-11-27T12:00:00+04:00"), "Asia/Baku", 7, 5) is None


def test_window_across_midnight_and_daylight_saving() -> None:
    found = due_edition(at("2026-11-28T01:30:00+04:00"), "Asia/Baku", 22, 5)
    assert found == (EDITION, at("2026-11-28T03:00:00+04:00"))
    # 29 March 2026: Berlin moves from +01:00 to +02:00 at 02:00.
    assert due_edition(at("2026-03-29T07:00:00+02:00"), "Europe/Berlin", 7, 2) == (
        date(2026, 3, 28), at("2026-03-29T09:00:00+02:00"))


def article(article_id: str, section: str, published: str) -> Article:
    return Article.model_validate({
        "id": article_id, "title": article_id.title(), "section": section,
        "published": published, "url": f"https://www.today.az/{article_id}.html",
        "lead": "Lead."})


def test_sections_filter_uses_slugs() -> None:
    items = [article("a", "Politics", "2026-11-26T10:00:00+04:00"),
             article("b", "Economy", "2026-11-26T11:00:00+04:00")]
    assert [a.id for a in in_sections(items, ("politics",))] == ["a"]


@pytest.fixture
def make_settings(make_settings: Callable[..., Settings], database_url: str
                  ) -> Callable[..., Settings]:
    """These tests run on each database backend."""
    with empty_database(database_url):
        pass
    return lambda **kw: make_settings(database_url=database_url, **kw)


@pytest.fixture
def stores(make_settings: Callable[..., Settings], redis_client: redis.Redis
           ) -> Iterator[Stores]:
    with services.stores(make_settings(), seed=False) as opened:
        yield opened


def planned_batches(redis_client: redis.Redis) -> list[list[str]]:
    out = []
    for raw in reversed(redis_client.lrange("digest", 0, -1)):  # kombu pushes on the left
        body = json.loads(base64.b64decode(json.loads(raw)["body"]))
        out.append(body[0][0]["ids"])
    return out


def subscribe(stores: Stores, email: str, sections: tuple[str, ...], tz: str, hour: int,
              active: bool = True) -> str:
    signup = SignUp(email, "", Preferences(sections, tz, hour))
    if active:
        return stores.subscribers.add_active(signup).id
    return stores.subscribers.sign_up(signup, timedelta(0))[0].id


def test_planning_by_zone_is_idempotent_and_skips_the_inactive(
        stores: Stores, make_settings: Callable[..., Settings],
        redis_client: redis.Redis) -> None:
    settings = make_settings(digest_batch_size=2)
    stores.articles.put_many([article("baku-news", "Politics", "2026-11-26T10:00:00+04:00"),
                              article("economy", "Economy", "2026-11-26T12:00:00+04:00")])
    baku = [subscribe(stores, f"baku{i}@example.com", ("politics",), "Asia/Baku", 7)
            for i in range(3)]
    berlin = subscribe(stores, "berlin@example.com", ("politics",), "Europe/Berlin", 7)
    subscribe(stores, "pending@example.com", ("politics",), "Asia/Baku", 7, active=False)
    gone = subscribe(stores, "gone@example.com", ("politics",), "Asia/Baku", 7)
    stores.subscribers.unsubscribe(gone)
    subscribe(stores, "sports@example.com", ("sports",), "Asia/Baku", 7)
    queue = CeleryJobQueue(settings)
    planner = make_planner(settings, stores, queue)

    first = planner.plan(at("2026-11-27T07:05:00+04:00"))
    assert (first.planned, first.batches, first.without_articles) == (3, 2, 1)
    again = planner.plan(at("2026-11-27T07:20:00+04:00"))
    assert (again.planned, again.run_id) == (0, None), "beat firing twice plans nothing new"
    later = planner.plan(at("2026-11-27T07:05:00+01:00"))
    assert later.planned == 1
    queue.close()

    batches = planned_batches(redis_client)
    assert [len(b) for b in batches] == [2, 1, 1]
    with stores.sessions.begin() as session:
        rows = session.query(DeliveryRow).filter(DeliveryRow.kind == Kind.DIGEST).all()
    assert sorted(r.subscriber_id for r in rows) == sorted([*baku, berlin])
    assert {r.reference for r in rows} == {"2026-11-26"}
    assert sorted(i for batch in batches for i in batch) == sorted(r.id for r in rows)


def test_manual_run_plans_the_edition_for_everyone_once(
        stores: Stores, make_settings: Callable[..., Settings],
        redis_client: redis.Redis) -> None:
    settings = make_settings()
    stores.articles.put_many([article("baku-news", "Politics", "2026-11-26T10:00:00+04:00")])
    subscribe(stores, "a@example.com", ("politics",), "Asia/Baku", 7)
    subscribe(stores, "b@example.com", ("politics",), "America/New_York", 18)
    queue = CeleryJobQueue(settings)
    planner = make_planner(settings, stores, queue)
    assert planner.plan(at("2026-11-27T15:00:00+00:00"), EDITION).planned == 2
    assert planner.plan(at("2026-11-27T15:01:00+00:00"), EDITION).planned == 0
    assert planner.plan(at("2026-11-28T15:00:00+00:00"), date(2026, 11, 27)).planned == 0, \
        "no articles that day: no e-mail"
    queue.close()


def test_lost_batches_are_queued_again(stores: Stores, make_settings: Callable[..., Settings],
                                       redis_client: redis.Redis) -> None:
    settings = make_settings()
    stores.articles.put_many([article("baku-news", "Politics", "2026-11-26T10:00:00+04:00")])
    subscribe(stores, "a@example.com", ("politics",), "Asia/Baku", 7)
    queue = CeleryJobQueue(settings)
    planner = make_planner(settings, stores, queue)
    now = datetime.now(UTC)
    planner.plan(now, EDITION)
    redis_client.delete("digest")  # the broker lost the batch
    assert planner.requeue_stale(now + timedelta(minutes=5), timedelta(minutes=10)) == 0
    assert planner.requeue_stale(now + timedelta(minutes=11), timedelta(minutes=10)) == 1
    assert len(planned_batches(redis_client)) == 1
    with stores.sessions.begin() as session:
        session.execute(update(DeliveryRow).values(status=JobStatus.SENT.value))
    assert planner.requeue_stale(now + timedelta(minutes=11), timedelta(minutes=10)) == 0
    queue.close()


def test_variant_is_hashable_and_equal_by_value() -> None:
    assert Variant(EDITION, "Asia/Baku", ("politics",)) == Variant(EDITION, "Asia/Baku",
                                                                   ("politics",))
    assert len({Variant(EDITION, "Asia/Baku", ("politics",)),
                Variant(EDITION, "Asia/Baku", ("politics",))}) == 1


MIXED_ZONES = ["Pacific/Auckland", "Asia/Kolkata", "Asia/Baku", "Europe/London",
               "America/New_York", "Pacific/Honolulu"]
MIXED_SECTIONS = [("politics",), ("economy", "politics"), ("sports",), ("economy",)]


def test_set_based_planning_matches_planning_each_subscriber_by_hand(
        stores: Stores, make_settings: Callable[..., Settings]) -> None:
    """A mixed population (zones on both sides of midnight UTC, several hours, sections
    with and without articles, pending and unsubscribed people), planned by the beat
    every half hour for two days, gives exactly the rows that working out each
    subscriber's due editions one by one gives: on each database, hence the same on
    both."""
    settings = make_settings(digest_batch_size=7)
    items = [article(f"{section.lower()}-{day}-{hour}", section,
                     f"2026-11-{day}T{hour:02d}:15:00+00:00")
             for day in (25, 26, 27) for hour in (1, 11, 22)
             for section in ("Politics", "Economy") if (day + hour) % 3 or section == "Politics"]
    stores.articles.put_many(items)
    people: list[tuple[str, str, int, tuple[str, ...]]] = []
    for i in range(96):
        zone, hour = MIXED_ZONES[i % 6], (0, 6, 7, 23)[i // 6 % 4]
        sections = MIXED_SECTIONS[i // 24 % 4]
        email = f"reader{i:02d}@example.com"
        if i % 11 == 5:
            subscribe(stores, email, sections, zone, hour, active=False)
            continue
        found = subscribe(stores, email, sections, zone, hour)
        if i % 13 == 7:
            stores.subscribers.unsubscribe(found)
            continue
        people.append((email, zone, hour, sections))
    queue = CeleryJobQueue(settings)
    planner = make_planner(settings, stores, queue)
    times = [at("2026-11-26T20:10:00+00:00") + timedelta(minutes=30 * n) for n in range(96)]
    for now in times:
        planner.plan(now)
    queue.close()

    expected: dict[tuple[str, str], datetime] = {}
    for now in times:
        for email, zone, hour, sections in people:
            found = due_edition(now, zone, hour, settings.digest_window_hours)
            if found is None or (email, found[0].isoformat()) in expected:
                continue
            start, end = edition_bounds(found[0], ZoneInfo(zone))
            if in_sections([a for a in items if start <= a.published < end], sections):
                expected[(email, found[0].isoformat())] = found[1]
    with stores.sessions.begin() as session:
        rows = session.query(DeliveryRow).filter(DeliveryRow.kind == Kind.DIGEST).all()
        planned = {(r.recipient, r.reference): r.expires_at for r in rows}
    assert len(expected) > 60, "the population exercises many groups and editions"
    assert planned == expected


def test_weekly_newsletters_go_out_on_their_weekday_with_the_week_in_them(
        stores: Stores, make_settings: Callable[..., Settings], redis_client: redis.Redis,
        smtp: RecordingHandler) -> None:
    """The weekly round-up (Sundays by default) at the reader's hour on Sunday in their
    zone, with the seven days before it; the daily digest beside it, each once; the
    e-mail says it is the weekly, from the newsletter's own list."""
    settings = make_settings()
    stores.articles.put_many([
        article("monday-politics", "Politics", "2026-11-23T10:00:00+04:00"),
        article("saturday-culture", "Culture", "2026-11-28T20:00:00+04:00"),
        article("old-culture", "Culture", "2026-11-21T20:00:00+04:00")])  # the week before
    both = stores.subscribers.add_active(SignUp("both@example.com", "", Preferences(
        ("politics",), "Asia/Baku", 7, (("weekly", ("culture", "politics")),))))
    weekly_only = stores.subscribers.add_active(SignUp("weekly@example.com", "", Preferences(
        (), "Asia/Baku", 7, (("weekly", ("culture",)),))))
    queue = CeleryJobQueue(settings)
    planner = make_planner(settings, stores, queue)
    assert planner.plan(at("2026-11-28T07:05:00+04:00")).planned == 0, \
        "Saturday: no weekly, and no politics on Friday for the daily"
    sunday = planner.plan(at("2026-11-29T07:05:00+04:00"))
    assert planner.plan(at("2026-11-29T07:35:00+04:00")).planned == 0, "each once"
    queue.close()
    with stores.sessions.begin() as session:
        rows = {(r.subscriber_id, r.reference) for r in session.query(DeliveryRow)}
    assert rows == {(both.id, "weekly/2026-11-28/7"), (weekly_only.id, "weekly/2026-11-28/7")}
    assert sunday.planned == 2

    ids = [i for batch in planned_batches(redis_client) for i in batch]
    with stores.sessions.begin() as session:  # planned for a past Sunday: send it today
        session.execute(update(DeliveryRow).values(expires_at=datetime.now(UTC) + timedelta(
            hours=1)))
    services_ = services.worker_services(settings, CeleryJobQueue(settings))
    try:
        outcome = services_.digest_sender.send_batch(ids)
    finally:
        services_.close()
    assert outcome.sent == 2
    mails = {m.rcpt_tos[0]: m.message for m in smtp.received}
    weekly = mails["weekly@example.com"]
    assert weekly["Subject"].startswith("TODAY.AZ, week to 28 November: Saturday-Culture")
    assert "The week in review\" <weekly.digest." in weekly["List-Id"]
    body = weekly.get_body(("plain",)).get_content()
    assert "in the 22–28 November 2026" in body and "Old-Culture" not in body
    both_body = mails["both@example.com"].get_body(("plain",)).get_content()
    assert "Monday-Politics" in both_body and "Saturday-Culture" in both_body
