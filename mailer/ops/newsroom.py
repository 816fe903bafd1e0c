"""What the newsroom asks of `mailer status` and /ops: how many readers each newsletter
has and how often they hear, and the latest breaking-news alerts with their progress
and how long after the publish call their first and last messages went out.

An alert's times come from the ledger: its run's `created_at` is the publish call, a
message's `updated_at` once `sent` is when the relay took it. "Last" counts the readers
planned at publish (and in the sweep a minute later); those whose quiet hours held the
alert back for their morning are left out of it, else every alert published in the
evening would look hours late.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from mailer.delivery.ledger import Kind
from mailer.delivery.ledger.queries import DeliveryTimes
from mailer.digest.runs import RunProgress, RunStatus
from mailer.newsletters.model import WEEKDAYS, Cadence
from mailer.stores import Stores

ALERT_KIND = Kind.ALERT.value  # digest_runs.kind of an alert, as the ledger's kind
FIRST_PASS = timedelta(seconds=60)  # the publish pass (and the sweep within a minute)
URGENT_LANES = ("share", "alerts")  # mailer/queue.py's lanes that must not wait
RUNBOOK_ALERT_LATE = "docs/operations.md#newsmaileralertfirstdeliverylate"


@dataclass(frozen=True)
class NewsletterReaders:
    slug: str
    name: str
    cadence: str  # immediate, daily, weekly
    weekday: str | None  # weekly: the day it goes out
    readers: int  # active readers who chose it

    @property
    def when(self) -> str:
        return f"weekly, {self.weekday}" if self.weekday else self.cadence


@dataclass(frozen=True)
class AlertState:
    id: str
    story: str  # the article's id
    status: str  # running, paused, cancelled, done
    planned: int
    sent: int
    waiting: int  # planned and not final yet (queued, sending, deferred)
    published: str  # the publish call, ISO 8601 UTC
    age_seconds: float
    first_seconds: float | None  # publish to the first message taken; None: none yet
    last_seconds: float | None  # publish to the last of the first pass; None: not done
    reason: str


def newsletter_readers(stores: Stores) -> list[NewsletterReaders]:
    """Every newsletter in the order the forms show them, with its active readers (0
    for one nobody chose yet)."""
    counts = stores.subscribers.readers_by_newsletter()
    return [NewsletterReaders(n.slug, n.name, n.cadence.value,
                              WEEKDAYS[n.weekday or 0] if n.cadence is Cadence.WEEKLY
                              else None, counts.get(n.slug, 0))
            for n in stores.newsletters.list()]


def _seconds(at: datetime | None, since: datetime) -> float | None:
    return round((at - since).total_seconds(), 3) if at is not None else None


def alert_state(progress: RunProgress, times: DeliveryTimes | None, now: datetime
                ) -> AlertState:
    run = progress.run
    first = _seconds(times.first_sent, run.created_at) if times else None
    last = _seconds(times.last_sent, run.created_at) \
        if times is not None and not times.waiting else None
    return AlertState(run.id, run.article_id or "", progress.state, run.total, progress.sent,
                      max(0, run.total - progress.finished),
                      run.created_at.isoformat(timespec="seconds"),
                      round((now - run.created_at).total_seconds(), 3), first, last,
                      run.reason)


def recent_alerts(stores: Stores, now: datetime, limit: int = 5,
                  since: datetime | None = None) -> list[AlertState]:
    """The latest alerts, newest first (those published since `since`, when given):
    one small query per alert through the ledger's run_id index."""
    progress = [p for p in stores.runs.progress(limit, kind=ALERT_KIND)
                if since is None or p.run.created_at >= since]
    times = stores.ledger.delivery_times([p.run.id for p in progress], FIRST_PASS)
    return [alert_state(p, times.get(p.run.id), now) for p in progress]


def alert_problems(alerts: Sequence[AlertState], limit: float) -> list[str]:
    """An alert that is paused, or whose readers have waited `limit` seconds since the
    publish call with none of them reached yet."""
    problems = []
    for alert in alerts:
        if alert.status == RunStatus.PAUSED.value:
            problems.append(f"alert {alert.id} (story {alert.story}) is paused: "
                            f"{alert.reason}; fix the cause, then `mailer digest resume "
                            f"{alert.id}` (or `mailer alerts cancel {alert.id}`)")
        elif alert.first_seconds is None and alert.waiting and alert.age_seconds > limit:
            problems.append(f"alert {alert.id} (story {alert.story}): {alert.waiting} readers "
                            f"planned, none reached {alert.age_seconds:.0f} s after the "
                            f"publish (limit {limit:.0f} s; {RUNBOOK_ALERT_LATE})")
    return problems
