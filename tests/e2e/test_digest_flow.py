"""The digest through beat's planning task, a real worker and the SMTP server."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from mailer import services
from mailer.articles.model import Article
from mailer.config import Settings
from mailer.queue import DIGEST_PLAN_TASK, DIGEST_QUEUE
from mailer.subscriptions.model import Preferences, SignUp
from tests.support.smtp import RecordingHandler
from worker.producer import CeleryJobQueue


def plan(settings: Settings, now: datetime) -> None:
    queue = CeleryJobQueue(settings)
    queue.enqueue(DIGEST_PLAN_TASK, {"now": now.isoformat()}, queue=DIGEST_QUEUE)
    queue.close()


def wait_for(check, timeout: float = 20) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def yesterday_article(article_id: str, zone: str, at: datetime, section: str) -> Article:
    local_noon = (at.astimezone(ZoneInfo(zone)) - timedelta(days=1)).replace(
        hour=12, minute=0, second=0, microsecond=0)
    return Article.model_validate({
        "id": article_id, "title": f"News for {zone}", "section": section,
        "published": local_noon.isoformat(), "url": f"https://www.today.az/{article_id}.html",
        "lead": "What happened."})


def test_each_zone_gets_its_digest_at_its_hour_once(e2e_settings: Settings,
                                                    worker: object,
                                                    smtp_handler: RecordingHandler) -> None:
    now = datetime.now(UTC)
    later = now + timedelta(hours=2)
    baku_hour = now.astimezone(ZoneInfo("Asia/Baku")).hour
    ny_hour = later.astimezone(ZoneInfo("America/New_York")).hour
    stores = services.stores(e2e_settings, seed=False)
    stores.articles.put_many([yesterday_article("baku-day", "Asia/Baku", now, "Politics"),
                              yesterday_article("ny-day", "America/New_York", later,
                                                "Economy")])
    add = stores.subscribers.add_active
    add(SignUp("baku@example.org", "Leyla", Preferences(("politics",), "Asia/Baku", baku_hour)))
    add(SignUp("ny@example.org", "Sam", Preferences(("economy",), "America/New_York", ny_hour)))
    add(SignUp("sport@example.org", "", Preferences(("sports",), "Asia/Baku", baku_hour)))
    gone = add(SignUp("gone@example.org", "", Preferences(("politics",), "Asia/Baku",
                                                          baku_hour)))
    stores.subscribers.unsubscribe(gone.id)
    stores.subscribers.sign_up(SignUp("pending@example.org", "", Preferences(
        ("politics",), "Asia/Baku", baku_hour)), timedelta(0))

    plan(e2e_settings, now)
    plan(e2e_settings, now + timedelta(minutes=15))  # beat again, or a second beat
    wait_for(lambda: smtp_handler.for_recipient("baku@example.org"))
    time.sleep(1.0)  # time for a wrong second digest to show up
    [digest] = smtp_handler.for_recipient("baku@example.org")
    assert re.fullmatch(r"TODAY\.AZ, \d+ \w+: News for Asia/Baku", digest.message["Subject"])
    assert digest.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert smtp_handler.for_recipient("ny@example.org") == [], "not before its local hour"

    plan(e2e_settings, later)
    wait_for(lambda: smtp_handler.for_recipient("ny@example.org"))
    time.sleep(0.5)
    [ny_digest] = smtp_handler.for_recipient("ny@example.org")
    assert re.fullmatch(r"TODAY\.AZ, \d+ \w+: News for America/New_York",
                        ny_digest.message["Subject"])
    assert len(smtp_handler.for_recipient("baku@example.org")) == 1
    for nobody in ("sport@example.org", "gone@example.org", "pending@example.org"):
        assert smtp_handler.for_recipient(nobody) == [], nobody
    stores.close()
