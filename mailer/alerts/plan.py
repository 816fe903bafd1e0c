"""Planning an alert: which readers are due now, made as ledger rows by the database a
page at a time (as the digest's are), and queued on the alerts lane.

An alert is a run (`digest_runs`, kind `alert`, one per story), so it shows, pauses and
cancels like a digest run. Planned when published for every reader it is day for; then,
every few minutes, for those whose night has ended since and who want it in the
morning. A reader's row is unique per story, so planning again adds no one twice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from uuid import uuid4
from zoneinfo import ZoneInfo

from mailer.alerts.rules import AlertRules, local_midnight
from mailer.articles.model import Article, slugify
from mailer.articles.stores import SqlArticleStore
from mailer.delivery.ledger import DeliveryLedger, Kind
from mailer.digest.runs import DigestRuns, RunInfo, RunStatus
from mailer.models import SubscriberRow
from mailer.newsletters.model import Cadence, Newsletter
from mailer.queue import ALERT_PLAN_TASK, ALERT_QUEUE, DIGEST_BATCH_TASK, JobQueue
from mailer.subscriptions.model import SectionCatalog
from mailer.subscriptions.store import SubscriberStore


class AlertPlanner:
    def __init__(self, *, ledger: DeliveryLedger, runs: DigestRuns,
                 subscribers: SubscriberStore, articles: SqlArticleStore, queue: JobQueue,
                 newsletters: Callable[[], Sequence[Newsletter]], catalog: SectionCatalog,
                 rules: AlertRules, batch_size: int) -> None:
        self._ledger = ledger
        self._runs = runs
        self._subscribers = subscribers
        self._articles = articles
        self._queue = queue
        self._newsletters = newsletters
        self._catalog = catalog
        self._rules = rules
        self._batch_size = batch_size

    def publish(self, article_id: str, now: datetime) -> tuple[RunInfo, bool]:
        """The story's alert, and whether this call opened it (False: it was alerted
        before, and nothing is sent again). Its planning goes to the alerts lane, so the
        CMS's request returns at once. NotFound for a story we do not have."""
        article = self._articles.get(article_id)
        run_id = uuid4().hex
        edition = article.published.astimezone(ZoneInfo("UTC")).date().isoformat()
        if not self._runs.open_alert(run_id, article.id, edition, now):
            found = self._runs.alert_for(article.id)
            assert found is not None
            return found, False
        self._queue.enqueue(ALERT_PLAN_TASK, {"run_id": run_id}, queue=ALERT_QUEUE)
        return self._runs.get(run_id), True

    def plan(self, run_id: str, now: datetime) -> int:
        """Rows and batches for the run's readers due now; how many."""
        run = self._runs.get(run_id)
        if run.kind != "alert" or run.status is not RunStatus.RUNNING or not run.article_id:
            return 0
        article = self._articles.get(run.article_id)
        section = slugify(article.section)
        planned = 0
        for newsletter in self._immediate(section):
            for zone in self._subscribers.alert_zones(newsletter.slug, section):
                planned += self._plan_zone(run, article, newsletter, zone, now)
        if planned:
            self._runs.add_to_total(run.id, planned)
        return planned

    def sweep(self, now: datetime) -> int:
        """Plan the running alerts again: readers whose quiet hours have ended since."""
        return sum(self.plan(run.id, now)
                   for run in self._runs.running_alerts(now - self._rules.morning))

    def _immediate(self, section: str) -> list[Newsletter]:
        return [n for n in self._newsletters()
                if n.cadence is Cadence.IMMEDIATE and section in n.offers(self._catalog)]

    def _plan_zone(self, run: RunInfo, article: Article, newsletter: Newsletter, zone: str,
                   now: datetime) -> int:
        """Nobody while it is night there; where it was night when the story broke,
        only those who want the alert in the morning (the others have it in their
        digest); a page of readers at a time, under the day's cap."""
        quiet = self._rules.quiet
        if quiet.at(now, zone):
            return 0
        mornings = quiet.at(run.created_at, zone)
        under_cap = self._ledger.alerts_below(self._rules.daily_cap,
                                              local_midnight(now, zone), SubscriberRow.email)
        after: str | None = ""
        planned = 0
        while after is not None:
            people = self._subscribers.alert_page(newsletter.slug, slugify(article.section),
                                                  zone, after, only_mornings=mornings)
            inserted, after = self._ledger.insert_digests_from(
                people.where(under_cap), page=max(self._batch_size, 1000), edition=article.id,
                expires=now + self._rules.window, run_id=run.id, now=now, kind=Kind.ALERT)
            for start in range(0, len(inserted), self._batch_size):
                self._queue.enqueue(DIGEST_BATCH_TASK, {
                    "run_id": run.id, "ids": inserted[start:start + self._batch_size],
                    "lane": ALERT_QUEUE}, queue=ALERT_QUEUE)
            planned += len(inserted)
        return planned
