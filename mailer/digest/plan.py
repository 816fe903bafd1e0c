"""The daily digest: who is due, with which articles, and planning each exactly once.

Edition D is the articles published on local date D in the subscriber's time zone; it
goes out the next morning at the subscriber's hour, and may go out until `window_hours`
after that hour; later it is not sent at all (the ledger row says `expired`).
One row per (edition, subscriber) in `deliveries`, under a unique key, is what makes
planning idempotent: beat firing twice, two beat processes, a manual run and a
redelivered batch all meet at that row.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from uuid import uuid4
from zoneinfo import ZoneInfo

from mailer.articles.model import Article, slugify
from mailer.articles.stores import SqlArticleStore
from mailer.delivery.ledger import DeliveryLedger
from mailer.digest.runs import DigestRuns, RunStatus
from mailer.errors import NotFound
from mailer.newsletters.model import DAILY, Cadence, Newsletter
from mailer.queue import ALERT_QUEUE, DIGEST_BATCH_TASK, DIGEST_QUEUE, JobQueue
from mailer.subscriptions.store import SubscriberStore


@dataclass(frozen=True)
class Variant:
    """Everything one rendered digest depends on: subscribers who share it share the
    render, and differ only in greeting and links. `edition` is the last local day it
    covers, `days` how many it covers (7 for a weekly); `title` and `sender_name` are
    its newsletter's (empty: the daily digest's words and the site's name)."""

    edition: date
    timezone: str
    sections: tuple[str, ...]
    newsletter: str = DAILY
    days: int = 1
    title: str = ""
    sender_name: str = ""
    template: str = "digest"  # "alert": one story as it breaks
    without: frozenset[str] = frozenset()  # stories the reader had as alerts

    @property
    def reference(self) -> str:
        """What the ledger's row says of it: the daily digest's bare date (as ever),
        else the newsletter, the last day and the span."""
        if self.newsletter == DAILY:
            return self.edition.isoformat()
        return f"{self.newsletter}/{self.edition.isoformat()}/{self.days}"


def variant_of(reference: str, timezone: str, sections: tuple[str, ...],
               newsletter: Newsletter | None) -> Variant:
    """The variant a ledger row's `reference` names, for a reader in `timezone` with
    `sections`; `newsletter`: the one it names, as it is now (None: gone)."""
    slug, _, rest = reference.partition("/")
    if not rest:
        slug, rest = DAILY, f"{reference}/1"
    day, _, span = rest.partition("/")
    title, sender = (newsletter.name, newsletter.sender_name) if newsletter else ("", "")
    return Variant(date.fromisoformat(day), timezone, sections, slug, int(span or 1), title,
                   sender)


def edition_bounds(edition: date, zone: ZoneInfo, days: int = 1) -> tuple[datetime, datetime]:
    """The local midnights that bound the edition's days. ValueError for an edition at
    the ends of the calendar (a link can name 0001-01-01 or 9999-12-31), whose bounds
    no datetime in UTC, as the database keeps them, can hold."""
    try:
        start = datetime.combine(edition - timedelta(days=days - 1), time(0), tzinfo=zone)
        end = datetime.combine(edition + timedelta(days=1), time(0), tzinfo=zone)
        start.astimezone(UTC), end.astimezone(UTC)
    except OverflowError:
        raise ValueError("there is no digest of a day so near the ends of the "
                         "calendar") from None
    return start, end


def due_edition(now: datetime, timezone: str, hour: int, window_hours: int,
                weekday: int | None = None) -> tuple[date, datetime] | None:
    """(edition, expires_at) if a digest is due at `now` for this hour and zone (and,
    for a weekly one, weekday): the edition is the day before it goes out."""
    zone = ZoneInfo(timezone)
    local = now.astimezone(zone)
    for day in (local.date(), local.date() - timedelta(days=1)):
        if weekday is not None and day.weekday() != weekday:
            continue
        scheduled = datetime.combine(day, time(hour), tzinfo=zone)
        expires = scheduled + timedelta(hours=window_hours)
        if scheduled <= now < expires:
            return day - timedelta(days=1), expires
    return None


def next_due(now: datetime, timezone: str, hour: int) -> datetime:
    """The next time at or after `now` a digest for this hour and zone is scheduled
    (the start of the window `due_edition` accepts)."""
    zone = ZoneInfo(timezone)
    local = now.astimezone(zone)
    for day in (local.date(), local.date() + timedelta(days=1)):
        scheduled = datetime.combine(day, time(hour), tzinfo=zone)
        if scheduled > now:
            return scheduled
    return datetime.combine(local.date() + timedelta(days=2), time(hour), tzinfo=zone)


def in_sections(articles: Iterable[Article], sections: Sequence[str]) -> list[Article]:
    wanted = set(sections)
    return [a for a in articles if slugify(a.section) in wanted]


class ArticleDays:
    """The articles of an edition in a zone, read once per (edition, zone), and each
    variant's selection, kept for the life of this object (one planning pass or batch)."""

    def __init__(self, store: SqlArticleStore) -> None:
        self._store = store
        self._days: dict[tuple[date, str, int], list[Article]] = {}
        self._variants: dict[Variant, list[Article]] = {}
        self._stories: dict[str, Article | None] = {}

    def for_variant(self, variant: Variant) -> list[Article]:
        found = self._variants.get(variant)
        if found is None:
            key = (variant.edition, variant.timezone, variant.days)
            if key not in self._days:
                self._days[key] = self._store.published_between(*edition_bounds(
                    variant.edition, ZoneInfo(variant.timezone), variant.days))
            found = self._variants[variant] = [
                a for a in in_sections(self._days[key], variant.sections)
                if a.id not in variant.without]
        return found

    def story(self, article_id: str) -> Article | None:
        """One story by id (an alert's), read once per batch; None when it is gone."""
        if article_id not in self._stories:
            try:
                self._stories[article_id] = self._store.get(article_id)
            except NotFound:
                self._stories[article_id] = None
        return self._stories[article_id]

    def forget(self) -> None:
        self._days.clear()
        self._variants.clear()
        self._stories.clear()


@dataclass(frozen=True)
class PlanReport:
    run_id: str | None
    planned: int
    batches: int
    without_articles: int


@dataclass(frozen=True)
class _Due:
    """One planning group whose edition is due: who (by zone, hour and sections in one
    newsletter), which variant, until when."""

    hour: int
    variant: Variant
    expires: datetime


SPANS = {Cadence.DAILY: 1, Cadence.WEEKLY: 7}


class DigestPlanner:
    def __init__(self, *, ledger: DeliveryLedger, runs: DigestRuns,
                 subscribers: SubscriberStore, articles: SqlArticleStore, queue: JobQueue,
                 batch_size: int, window_hours: int,
                 newsletters: Callable[[], Sequence[Newsletter]] = tuple) -> None:
        """`newsletters`: those offered now (besides the daily digest, which is always
        planned); the weekly ones go out on their weekday."""
        self._ledger = ledger
        self._runs = runs
        self._subscribers = subscribers
        self._articles = articles
        self._queue = queue
        self._batch_size = batch_size
        self._window = window_hours
        self._newsletters = newsletters

    def plan(self, now: datetime, edition: date | None = None) -> PlanReport:
        """Queue every digest due at `now` (or, with `edition`, that daily edition for
        every active subscriber, due at once). Safe to call any number of times.

        Set-based: Python decides which (newsletter, time zone, hour, sections) groups
        are due and have articles; the database makes the rows, a page of subscribers
        at a time, and each page's batches are queued as soon as it is committed, so
        workers start sending while the rest of a large list is being planned, and no
        Python object is made per subscriber."""
        due, without = self._due(now, edition)
        run_id = uuid4().hex
        planned = batches = 0
        page = max(self._batch_size, 1000)
        analyze_at = 10_000
        for group in due:
            variant = group.variant
            after: str | None = ""
            while after is not None:
                inserted, after = self._ledger.insert_digests_from(
                    self._subscribers.group_page(variant.timezone, group.hour,
                                                 variant.sections, after, variant.newsletter),
                    page=page, edition=variant.reference, expires=group.expires,
                    run_id=run_id, now=now)
                if not inserted:
                    continue
                if planned == 0:
                    # Around midnight UTC one pass can plan two editions (zones far
                    # apart): the run is filed under the latest.
                    self._runs.open(run_id, max(d.variant.edition for d in due).isoformat(),
                                    now)
                planned += len(inserted)
                if planned >= analyze_at:
                    # Before the workers claim the rows just made (see the ledger).
                    self._ledger.refresh_statistics()
                    analyze_at *= 4
                batches += self._enqueue(run_id, inserted)
        if planned == 0:
            return PlanReport(None, 0, 0, without)
        self._runs.set_total(run_id, planned)
        return PlanReport(run_id, planned, batches, without)

    def _due(self, now: datetime, edition: date | None) -> tuple[list[_Due], int]:
        """The groups due now, and how many readers are due but have no new articles
        (they get no e-mail). A given `edition` plans the daily digest alone."""
        days = ArticleDays(self._articles)
        listed = {n.slug: n for n in self._newsletters() if n.cadence in SPANS}
        daily = listed.pop(DAILY, Newsletter(DAILY, "", Cadence.DAILY, ()))
        due: list[_Due] = []
        without = 0
        for newsletter in [daily, *(listed.values() if edition is None else ())]:
            for timezone, hour, sections, count in self._subscribers.planning_groups(
                    newsletter.slug):
                if edition is not None:
                    found: tuple[date, datetime] | None = (
                        edition, now + timedelta(hours=self._window))
                else:
                    found = due_edition(now, timezone, hour, self._window,
                                        newsletter.weekday)
                if found is None or not sections:
                    continue
                variant = Variant(found[0], timezone, sections, newsletter.slug,
                                  SPANS[newsletter.cadence], newsletter.name,
                                  newsletter.sender_name)
                if not days.for_variant(variant):
                    without += count  # no new articles: no e-mail
                    continue
                due.append(_Due(hour, variant, found[1]))
        return due, without

    def cancelled_runs(self) -> set[str]:
        """Runs whose messages stay unsent, whatever is resent."""
        return self._runs.ids_in({RunStatus.CANCELLED})

    def enqueue_batches(self, run_id: str, ids: Sequence[str]) -> int:
        """Queue these rows' digests in batches; how many batches."""
        return self._enqueue(run_id, ids)

    def _enqueue(self, run_id: str, ids: Sequence[str]) -> int:
        """In batches, on the run's lane: an alert's (resumed, or lost and found by the
        sweep) go back on the alerts lane."""
        lane = ALERT_QUEUE if run_id and self._runs.kind(run_id) == "alert" else DIGEST_QUEUE
        count = 0
        for start in range(0, len(ids), self._batch_size):
            batch = list(ids[start:start + self._batch_size])
            self._queue.enqueue(DIGEST_BATCH_TASK, {"run_id": run_id, "ids": batch,
                                                    "lane": lane}, queue=lane)
            count += 1
        return count

    def requeue_stale(self, now: datetime, older_than: timedelta,
                      retry_max: timedelta = timedelta(0)) -> int:
        """Batches for digest rows whose task is gone: still `queued` long after
        planning (the broker did not take the batch, or lost it), `deferred` and not
        retried for as long after the longest backoff (the retry was lost), or
        `sending` past their lease (the worker died mid-batch). The claim stops a double
        send if the old task turns up after all. A paused run keeps its rows queued on
        purpose: resume queues them."""
        halted = self._runs.ids_in({RunStatus.PAUSED, RunStatus.CANCELLED})
        stale = self._ledger.stale_digests(now, older_than, retry_max, halted)
        by_run: dict[str, list[str]] = defaultdict(list)
        for id_, run in stale:
            by_run[run or ""].append(id_)
        for run, ids in by_run.items():
            self._enqueue(run, ids)
        return len(stale)
