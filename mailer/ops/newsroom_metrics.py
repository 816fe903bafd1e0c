"""`/metrics` for the newsroom, read from the database at each scrape (ServiceCollector
yields them, so any number of API processes give the same figures):

- `mailer_newsletter_readers{newsletter,cadence}`: active readers of each newsletter.
- `mailer_alert_first_delivery_seconds{run,story}`: for each alert published in the
  last hour (at most ten), seconds from the publish call to the first message the relay
  took; while readers are planned and none is reached yet, the seconds so far, so an
  alert stuck in its lane shows (and fires NewsmailerAlertFirstDeliveryLate) before
  anyone has it.
- `mailer_alert_last_delivery_seconds{run,story}`: the same to the last message of the
  readers planned at publish (not those held back for their morning); while some of
  them still wait, the seconds so far.
- `mailer_alert_waiting{run,story}`: its messages planned and not final yet.

With no alert in the last hour, each alert family has one series without a run, at 0,
so the dashboard's and the alert's queries always have data. An alert no one was due
(all at night, or no `immediate` reader of its section) has no messages and no series.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import TYPE_CHECKING

from prometheus_client.core import GaugeMetricFamily

from mailer.models import utcnow
from mailer.ops.newsroom import AlertState, newsletter_readers, recent_alerts

if TYPE_CHECKING:
    from mailer.stores import Stores

ALERT_WINDOW = timedelta(hours=1)
ALERTS = 10


def newsroom_metrics(stores: Stores) -> Iterator[GaugeMetricFamily]:
    readers = GaugeMetricFamily("mailer_newsletter_readers", "Active readers of each "
                                "newsletter, with how often it goes out",
                                labels=["newsletter", "cadence"])
    for newsletter in newsletter_readers(stores):
        readers.add_metric([newsletter.slug, newsletter.cadence], newsletter.readers)
    yield readers
    yield from alert_metrics(stores)


def _so_far(alert: AlertState, seconds: float | None) -> float:
    return alert.age_seconds if seconds is None else seconds


def alert_metrics(stores: Stores) -> Iterator[GaugeMetricFamily]:
    now = utcnow()
    alerts = [a for a in recent_alerts(stores, now, ALERTS, since=now - ALERT_WINDOW)
              if a.planned]
    labels = ["run", "story"]
    first = GaugeMetricFamily("mailer_alert_first_delivery_seconds", "Seconds from an "
                              "alert's publish call to its first message taken by the "
                              "relay (so far, while none is)", labels=labels)
    last = GaugeMetricFamily("mailer_alert_last_delivery_seconds", "Seconds from an alert's "
                             "publish call to the last message taken of the readers "
                             "planned at publish (so far, while some wait)", labels=labels)
    waiting = GaugeMetricFamily("mailer_alert_waiting", "Messages of an alert planned and "
                                "not final yet", labels=labels)
    for alert in alerts:
        # A run cancelled or paused before anything went out is not late: it stopped.
        stopped = alert.status in ("cancelled", "paused")
        if alert.first_seconds is not None or (alert.waiting and not stopped):
            first.add_metric([alert.id, alert.story], _so_far(alert, alert.first_seconds))
        if alert.last_seconds is not None or (alert.waiting and not stopped):
            last.add_metric([alert.id, alert.story], _so_far(alert, alert.last_seconds))
        waiting.add_metric([alert.id, alert.story], alert.waiting)
    for family in (first, last, waiting):
        if not family.samples:
            family.add_metric(["", ""], 0)
        yield family
