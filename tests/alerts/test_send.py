"""An alert through the real wiring (the worker's services, a real SMTP server): the
e-mail readers get, its one-click unsubscribe, and the digest that leaves it out."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import redis

from mailer import services
from mailer.articles.model import Article
from mailer.config import Settings
from mailer.queue import ALERT_QUEUE
from mailer.stores import Stores
from mailer.subscriptions.model import Preferences, SignUp, read_unsubscribe_value
from mailer.tokens import Purpose
from tests.alerts.test_plan import lane
from tests.support.smtp import RecordingHandler
from worker.producer import CeleryJobQueue

NOW = datetime.now(UTC)


def queued(redis_client: redis.Redis, queue: str) -> list[list[str]]:
    """The ids of each batch waiting on a lane."""
    return [[str(i) for i in job["ids"]] for _, job in lane(redis_client, queue)  # type: ignore[attr-defined]
            if "ids" in job]


def story(article_id: str, title: str, section: str = "Politics") -> Article:
    return Article.model_validate({
        "id": article_id, "title": title, "section": section,
        "published": (NOW - timedelta(hours=1)).isoformat(),
        "url": f"https://www.today.az/{article_id}.html", "lead": "What happened, briefly.",
        "image_url": "https://www.today.az/photo.jpg"})


@pytest.fixture
def stores(settings: Settings, redis_client: redis.Redis) -> Iterator[Stores]:
    with services.stores(settings, seed=False) as opened:
        yield opened


@pytest.fixture
def settings(make_settings: object) -> Settings:
    # Quiet hours that never are: this test runs at any time of day.
    return make_settings(quiet_hours="0-0")  # type: ignore[operator]


def test_an_alert_goes_out_and_stays_out_of_the_digest(
        settings: Settings, stores: Stores, smtp: RecordingHandler,
        redis_client: redis.Redis) -> None:
    breaking = story("border-talks", "Border talks resume in Geneva after a year of silence "
                                     "between the two delegations")
    quiet = story("budget-review", "Budget review published")
    stores.articles.put_many([breaking, quiet])
    zone = "Asia/Baku"
    reader = stores.subscribers.add_active(SignUp("leyla@example.com", "Leyla", Preferences(
        ("politics",), zone, NOW.astimezone().hour, (("breaking", ("politics",)),))))
    queue = CeleryJobQueue(settings)
    worker = services.worker_services(settings, queue)
    try:
        planner = services.make_alert_planner(settings, stores, queue)
        run, _ = planner.publish(breaking.id, NOW)
        assert planner.plan(run.id, NOW) == 1
        [ids] = queued(redis_client, ALERT_QUEUE)
        assert worker.digest_sender.send_batch(ids, run.id).sent == 1
        alert = smtp.received[0].message
        assert alert["Subject"].startswith("Breaking news: Border talks resume in Geneva")
        assert alert["Subject"].endswith("…") and len(alert["Subject"]) <= 70
        assert "breaking.digest." in alert["List-Id"]
        html = alert.get_body(("html",)).get_content()
        assert 'src="https://www.today.az/photo.jpg"' in html
        token = alert["List-Unsubscribe"].split("/unsubscribe/")[1].split(">")[0]
        assert read_unsubscribe_value(services.make_tokens(settings).read(
            Purpose.UNSUBSCRIBE, token)) == (reader.id, "breaking"), \
            "one click leaves the alerts, not the digest"

        smtp.clear()
        edition = (NOW - timedelta(hours=1)).astimezone(ZoneInfo(zone)).date()
        report = services.make_planner(settings, stores, queue).plan(NOW, edition)
        [batch] = queued(redis_client, "digest")
        assert worker.digest_sender.send_batch(batch, report.run_id).sent == 1
        text = smtp.received[0].message.get_body(("plain",)).get_content()
        assert "Budget review published" in text and "Border talks" not in text, \
            "the story the reader had as an alert is not in their digest"
    finally:
        worker.close()
        queue.close()
