"""What `mailer status` (and the ops page) show: one snapshot of the queues, workers,
recent outcomes, rate-limit buckets, digest runs, newsletters' readers and the latest
alerts, and whether that is healthy."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta

import redis

from mailer.config import Settings
from mailer.delivery.ledger import JobStatus
from mailer.digest.plan import next_due
from mailer.digest.runs import RunProgress, RunStatus
from mailer.errors import MailerError
from mailer.limits.buckets import RATE_KEY_PREFIX, RedisBuckets
from mailer.limits.pacing import relay_bucket_key
from mailer.models import utcnow
from mailer.ops.feedback_status import (
    FeedbackFigures,
    collect_feedback,
    feedback_problems,
    pause_policy,
)
from mailer.ops.newsroom import (
    URGENT_LANES,
    AlertState,
    NewsletterReaders,
    alert_problems,
    newsletter_readers,
    recent_alerts,
)
from mailer.queue import LANES, JobQueue
from mailer.sending.relay_health import RelayHealth
from mailer.stores import Stores

# How long a share or an alert may wait in its lane, and an alert's readers for the
# first of them to be reached, before status says so (and the alert rules page).
URGENT_MAX_AGE = 60.0
RUNBOOK = "docs/operations.md"  # each problem line names its next step, or the runbook's
OUTCOMES = (JobStatus.SENT, JobStatus.DEFERRED, JobStatus.FAILED, JobStatus.SUPPRESSED)


@dataclass(frozen=True)
class QueueState:
    name: str
    waiting: int
    oldest_seconds: float | None  # None: the broker cannot tell (RabbitMQ)
    reserved: int
    max_age: float = 300.0  # how long its oldest job may wait before it is a problem


@dataclass(frozen=True)
class BucketState:
    key: str
    rate: str
    next_slot_seconds: float


@dataclass(frozen=True)
class RelayState:
    """`healthy`: not refusing us (no problem); `state` says it in words: "healthy"
    once a message went through it, "unknown" before any did (never contacted: it
    may well be misconfigured), "unhealthy" after it refused us or could not be
    reached."""

    id: str
    healthy: bool
    reason: str
    since: str | None
    state: str = "healthy"


@dataclass(frozen=True)
class RunState:
    id: str
    edition: str
    status: str
    total: int
    finished: int
    sent: int
    eta_seconds: float | None
    reason: str


@dataclass(frozen=True)
class Snapshot:
    at: str
    queues: list[QueueState]
    workers: dict[str, list[str]]  # worker name -> queues it consumes
    outcomes: dict[str, dict[str, dict[str, int]]]  # window -> kind -> status -> n
    buckets: list[BucketState]
    runs: list[RunState]
    next_digest: str | None
    relays: list[RelayState] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    feedback: FeedbackFigures | None = None  # what came back: bounces, complaints, ...
    newsletters: list[NewsletterReaders] = field(default_factory=list)
    alerts: list[AlertState] = field(default_factory=list)  # the latest, newest first
    run_id_length: int = 8  # leading characters of a run id that tell all runs apart
    notes: list[str] = field(default_factory=list)  # worth fixing, but nothing fails

    @property
    def healthy(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "healthy": self.healthy}


def _outcomes(stores: Stores, since: datetime) -> dict[str, dict[str, int]]:
    return stores.ledger.outcome_counts(since, OUTCOMES)


def _buckets(settings: Settings, client: redis.Redis) -> list[BucketState]:
    buckets = RedisBuckets(client)
    relays = settings.smtp_relays
    keys = [relay_bucket_key(r.id) for r in relays]
    states = [BucketState(key, str(r.rate) if r.rate else "none", wait) for key, r, wait in
              zip(keys, relays, buckets.peek(keys), strict=True)]
    domains = sorted(k.decode().removeprefix(RATE_KEY_PREFIX) for k in
                     client.scan_iter(f"{RATE_KEY_PREFIX}domain:*", count=500))[:20]
    for key, wait in zip(domains, buckets.peek(domains) if domains else [], strict=True):
        states.append(BucketState(key, "", wait))
    return states


def _runs(progress: list[RunProgress], now: datetime) -> list[RunState]:
    return [RunState(p.run.id, p.run.edition, p.state, p.run.total, p.finished, p.sent,
                     p.eta_seconds(now), p.run.reason) for p in progress]


def next_digest_time(stores: Stores, now: datetime) -> datetime | None:
    """The next moment some active subscriber's digest falls due."""
    times = [next_due(now, zone, hour)
             for zone, hour, _, _ in stores.subscribers.planning_groups()]
    return min(times) if times else None


def _lanes(queue: JobQueue, timeout: float, max_age: float, urgent_max_age: float
           ) -> tuple[list[QueueState], dict[str, list[str]], list[str]]:
    """Each lane's backlog with the wait it is allowed (the urgent lanes' shorter),
    the workers and what consumes each lane, and what is wrong with them."""
    problems: list[str] = []
    backlogs = queue.backlog(LANES)  # the broker away: ServiceUnavailable, exit 3 or 503
    try:
        workers, reserved = queue.survey(timeout)
    except MailerError as exc:
        workers, reserved = {}, {}
        problems.append(f"broker: {exc}: check it is running and MAILER_BROKER_URL")
    queues = [QueueState(b.queue, b.waiting, b.oldest_seconds, reserved.get(b.queue, 0),
                         urgent_max_age if b.queue in URGENT_LANES else max_age)
              for b in backlogs]
    if not workers:
        problems.append(f"no worker answered a ping: start the workers ({RUNBOOK}#service-units)")
    for name in LANES:
        if workers and not any(name in qs for qs in workers.values()):
            problems.append(f"no worker consumes the {name} queue: start one with -Q {name} "
                            f"({RUNBOOK}#newsmailerqueuewithoutworker)")
    for state in queues:
        if state.oldest_seconds is not None and state.oldest_seconds > state.max_age:
            problems.append(f"the oldest job in {state.name} has waited "
                            f"{state.oldest_seconds:.0f} s (limit {state.max_age:.0f} s): "
                            "add workers or find what holds them "
                            f"({RUNBOOK}#newsmaileroldestjobold)")
    return queues, workers, problems


def collect(settings: Settings, stores: Stores, client: redis.Redis, queue: JobQueue,
            *, max_age: float, timeout: float = 1.0,
            urgent_max_age: float = URGENT_MAX_AGE) -> Snapshot:
    """`max_age`: how long a digest job may wait; `urgent_max_age`: a share's or an
    alert's, and how long an alert's readers may wait for the first of them to be
    reached."""
    now = utcnow()
    queues, workers, problems = _lanes(queue, timeout, max_age, min(max_age, urgent_max_age))
    progress = stores.runs.progress(5, kind="digest")
    runs = _runs(progress, now)
    problems += [f"digest run {r.id} is paused: {r.reason}; fix the cause, then "
                 f"`mailer digest resume {r.id}` (or `mailer digest cancel {r.id}`)"
                 for r in runs if r.status == RunStatus.PAUSED.value]
    alerts = recent_alerts(stores, now)
    problems += alert_problems(alerts, min(max_age, urgent_max_age))
    feedback = collect_feedback(stores, progress, now)
    problems += feedback_problems(feedback, pause_policy(settings))
    relays = relay_states(settings, client)
    problems += [f"relay {r.id} is unhealthy since {r.since}: {r.reason}; fix its settings or "
                 f"its allowed senders, then resume the runs it paused "
                 f"({RUNBOOK}#newsmailerrelayunhealthy)" for r in relays if not r.healthy]
    nxt = next_digest_time(stores, now)
    return Snapshot(now.isoformat(timespec="seconds"), queues, workers,
                  {"5m": _outcomes(stores, now - timedelta(minutes=5)),
                   "1h": _outcomes(stores, now - timedelta(hours=1))},
                  _buckets(settings, client), runs,
                  nxt.isoformat(timespec="minutes") if nxt else None, relays, problems,
                  feedback, newsletter_readers(stores), alerts, stores.runs.id_length(),
                  settings_notes(settings))


def settings_notes(settings: Settings) -> list[str]:
    """What the settings leave out that bulk mail is expected to have."""
    if settings.postal_address.strip():
        return []
    return ["MAILER_POSTAL_ADDRESS is empty: bulk mail (digests, weeklies, alerts) is "
            "expected to carry the publisher's postal address in its footer (CAN-SPAM); "
            "set it to one line"]


def relay_states(settings: Settings, client: redis.Redis) -> list[RelayState]:
    """Every configured relay, and what the workers last found of each."""
    health = RelayHealth(client)
    problems = {p.relay: p for p in health.problems()}
    answered = health.answered()
    states = []
    for config in settings.smtp_relays:
        found = problems.get(config.id)
        if found is not None:
            states.append(RelayState(config.id, False, found.reason, datetime.fromtimestamp(
                found.since, UTC).isoformat(timespec="seconds"), "unhealthy"))
        else:
            states.append(RelayState(config.id, True, "", None,
                                     "healthy" if config.id in answered else "unknown"))
    return states
