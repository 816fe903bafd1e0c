"""The newsroom's figures on a real database (SQLite, and PostgreSQL where configured)
and Redis: readers per newsletter with their cadence, and an alert published through
the real planner, followed from planned to its first and last reader in
`mailer status`'s snapshot and in /metrics (no worker: the test stands in for the relay
by marking messages sent, at the times it chooses)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
import redis
from prometheus_client import CollectorRegistry, generate_latest
from sqlalchemy import select, update

from mailer import services
from mailer.articles.model import Article
from mailer.config import Settings
from mailer.delivery.ledger import JobStatus
from mailer.digest.runs import RunInfo
from mailer.models import DeliveryRow, utcnow
from mailer.ops.metrics import ServiceCollector
from mailer.ops.newsroom import alert_problems, newsletter_readers, recent_alerts
from mailer.ops.status import collect
from mailer.stores import Stores
from mailer.subscriptions.model import Preferences, SignUp
from tests.conftest import empty_database
from tests.ops.test_metrics import samples
from worker.producer import CeleryJobQueue

STORY = Article.model_validate({
    "id": "flood-warning", "title": "Flood warning for the capital", "section": "Politics",
    "published": "2026-12-04T13:55:00+04:00", "url": "https://www.today.az/flood.html",
    "lead": "Rivers are rising."})
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
def settings(make_settings: Callable[..., Settings], database_url: str) -> Settings:
    with empty_database(database_url):
        pass
    return make_settings(database_url=database_url, digest_batch_size=2)


@pytest.fixture
def stores(settings: Settings, redis_client: redis.Redis) -> Iterator[Stores]:
    with services.stores(settings, seed=False) as opened:
        opened.articles.put_many([STORY])
        yield opened


def noon_zone(at: datetime) -> str:
    """A zone where it is midday at `at`: no quiet hours hold the alert back."""
    ahead = 12 - at.astimezone(UTC).hour
    return f"Etc/GMT{-ahead:+d}"


def reader(stores: Stores, email: str, zone: str, *chosen: tuple[str, tuple[str, ...]]
           ) -> None:
    stores.subscribers.add_active(SignUp(email, "", Preferences(("economy",), zone, 7,
                                                                chosen)))


def publish(stores: Stores, settings: Settings, at: datetime) -> RunInfo:
    planner = services.make_alert_planner(settings, stores, CeleryJobQueue(settings))
    run, new = planner.publish(STORY.id, at)
    assert new and planner.plan(run.id, at) > 0
    return stores.runs.get(run.id)


def deliver(stores: Stores, run: RunInfo, count: int, at: datetime) -> None:
    """The relay takes `count` more of the run's messages at `at`."""
    with stores.sessions.begin() as session:
        ids = list(session.scalars(select(DeliveryRow.id).where(
            DeliveryRow.run_id == run.id, DeliveryRow.status == JobStatus.QUEUED.value)
            .order_by(DeliveryRow.id).limit(count)))
        session.execute(update(DeliveryRow).where(DeliveryRow.id.in_(ids))
                        .values(status=JobStatus.SENT.value, updated_at=at))


def scrape(stores: Stores, settings: Settings) -> Samples:
    registry = CollectorRegistry()
    registry.register(ServiceCollector(stores, CeleryJobQueue(settings), timeout=0.2))
    return samples(generate_latest(registry).decode())


def test_readers_per_newsletter_with_their_cadence(stores: Stores, settings: Settings) -> None:
    zone = "Asia/Baku"
    reader(stores, "a@example.org", zone, ("breaking", ("politics",)), ("weekly", ("politics",)))
    reader(stores, "b@example.org", zone, ("breaking", ("politics",)))
    reader(stores, "c@example.org", zone)
    found = {n.slug: n for n in newsletter_readers(stores)}
    assert [(n.readers, n.when) for n in (found["daily"], found["weekly"], found["breaking"])] \
        == [(3, "daily"), (1, "weekly, Sunday"), (2, "immediate")]
    got = scrape(stores, settings)
    readers = {labels: n for (name, labels), n in got.items()
               if name == "mailer_newsletter_readers"}
    assert readers == {(("cadence", "daily"), ("newsletter", "daily")): 3,
                       (("cadence", "weekly"), ("newsletter", "weekly")): 1,
                       (("cadence", "immediate"), ("newsletter", "breaking")): 2}


def test_an_alert_from_publish_to_its_first_and_last_reader(
        stores: Stores, settings: Settings) -> None:
    published = utcnow().replace(microsecond=0) - timedelta(seconds=90)
    zone = noon_zone(published)
    for i in range(3):
        reader(stores, f"r{i}@example.org", zone, ("breaking", ("politics",)))
    run = publish(stores, settings, published)
    now = published + timedelta(seconds=90)

    [alert] = recent_alerts(stores, now)
    assert (alert.story, alert.status, alert.planned, alert.sent, alert.waiting) == \
        (STORY.id, "running", 3, 0, 3)
    assert alert.first_seconds is None and alert.last_seconds is None
    assert alert.age_seconds == 90
    [problem] = alert_problems([alert], 60)
    assert "3 readers planned, none reached 90 s after the publish" in problem
    assert alert_problems([alert], 120) == []
    got = scrape(stores, settings)
    labels = (("run", run.id), ("story", STORY.id))
    assert 89 < got[("mailer_alert_first_delivery_seconds", labels)] < 120, "so far"
    assert got[("mailer_alert_waiting", labels)] == 3

    deliver(stores, run, 2, published + timedelta(seconds=1.5))
    [alert] = recent_alerts(stores, now)
    assert (alert.sent, alert.waiting, alert.first_seconds, alert.last_seconds) == \
        (2, 1, 1.5, None)
    assert alert_problems([alert], 60) == []
    deliver(stores, run, 1, published + timedelta(seconds=7))
    [alert] = recent_alerts(stores, now)
    assert (alert.status, alert.waiting, alert.first_seconds, alert.last_seconds) == \
        ("done", 0, 1.5, 7.0)
    got = scrape(stores, settings)
    assert got[("mailer_alert_first_delivery_seconds", labels)] == 1.5
    assert got[("mailer_alert_last_delivery_seconds", labels)] == 7.0
    assert got[("mailer_alert_waiting", labels)] == 0
    assert ("mailer_alert_first_delivery_seconds", (("run", ""), ("story", ""))) not in got


def test_readers_planned_for_their_morning_do_not_make_the_alert_late(
        stores: Stores, settings: Settings) -> None:
    published = utcnow().replace(microsecond=0) - timedelta(minutes=30)
    reader(stores, "day@example.org", noon_zone(published), ("breaking", ("politics",)))
    run = publish(stores, settings, published)
    deliver(stores, run, 1, published + timedelta(seconds=2))
    # A reader whose night ended, planned by the sweep ten minutes later, reached at once.
    stores.subscribers.add_active(SignUp("morning@example.org", "", Preferences(
        ("economy",), noon_zone(published), 7, (("breaking", ("politics",)),))))
    planner = services.make_alert_planner(settings, stores, CeleryJobQueue(settings))
    assert planner.plan(run.id, published + timedelta(minutes=10)) == 1
    deliver(stores, run, 1, published + timedelta(minutes=10, seconds=1))
    [alert] = recent_alerts(stores, utcnow())
    assert (alert.planned, alert.sent, alert.first_seconds, alert.last_seconds) == \
        (2, 2, 2.0, 2.0)


def test_no_recent_alert_one_series_at_zero_and_status_shows_the_alerts(
        stores: Stores, settings: Settings, redis_client: redis.Redis) -> None:
    got = scrape(stores, settings)
    for name in ("first_delivery_seconds", "last_delivery_seconds", "waiting"):
        assert got[(f"mailer_alert_{name}", (("run", ""), ("story", "")))] == 0
    old = utcnow().replace(microsecond=0) - timedelta(hours=2)
    reader(stores, "r@example.org", noon_zone(old), ("breaking", ("politics",)))
    run = publish(stores, settings, old)
    deliver(stores, run, 1, old + timedelta(seconds=3))
    got = scrape(stores, settings)
    assert ("mailer_alert_first_delivery_seconds", (("run", ""), ("story", ""))) in got, \
        "an alert of two hours ago is history, not a series"
    snapshot = collect(settings, stores, redis_client, CeleryJobQueue(settings), max_age=300,
                       timeout=0.2)
    [alert] = snapshot.alerts
    assert (alert.id, alert.status, alert.first_seconds, alert.last_seconds) == \
        (run.id, "done", 3.0, 3.0)
    assert run.id not in [r.id for r in snapshot.runs], "digest runs are digests only"
    assert {n.slug: n.readers for n in snapshot.newsletters}["breaking"] == 1
