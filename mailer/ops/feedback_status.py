"""What came back from the world, for `mailer status` and /ops: per kind of mail the
last 24 hours' bounces, complaints and unsubscribes by mail over what went out, per
recent digest run the same, the refusals that blame us by recipient domain (the
operator's to fix, not the readers'), and returned mail that acted on no one."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from mailer.config import Settings
from mailer.delivery.ledger import JobStatus, Kind
from mailer.digest.runs import FeedbackPausePolicy, RunProgress
from mailer.stores import Stores

WINDOW = timedelta(hours=24)
RUN_WINDOW = timedelta(days=2)  # a run's mail keeps coming back for hours after it went out
NO_KIND = "none"
HARD_BOUNCE = ("bounce", "suppressed")
SOFT_BOUNCE = (("bounce", "counted"), ("bounce", "unreachable"))
COMPLAINT = ("complaint", "complained")
UNSUBSCRIBE = ("unsubscribe", "unsubscribed")
BLAMES_US = ("bounce", "blames-us")


@dataclass(frozen=True)
class KindRates:
    kind: str
    sent: int
    hard_bounces: int
    soft_bounces: int
    complaints: int
    unsubscribes: int  # by mail, to the List-Unsubscribe mailto:
    blames_us: int
    hard_bounce_ratio: float
    complaint_ratio: float
    unsubscribe_ratio: float


@dataclass(frozen=True)
class RunRates:
    id: str
    edition: str
    status: str
    sent: int
    hard_bounces: int
    complaints: int
    hard_bounce_ratio: float
    complaint_ratio: float


@dataclass(frozen=True)
class DomainRefusals:
    domain: str
    refusals: int


@dataclass(frozen=True)
class FeedbackFigures:
    kinds: list[KindRates]
    runs: list[RunRates]
    refusals: list[DomainRefusals]  # the commonest domains, then "other" when any
    untrusted: dict[str, int]  # why (missing, forged, stale, unknown-message) -> messages
    window_hours: int = 24


def pause_policy(settings: Settings) -> FeedbackPausePolicy:
    """The thresholds a run pauses at (the intake's, through the wiring) and that
    `mailer status` judges each kind's last 24 hours by."""
    return FeedbackPausePolicy(settings.pause_bounce_ratio, settings.pause_complaint_ratio,
                               settings.pause_feedback_minimum)


def _ratio(count: int, sent: int) -> float:
    return round(count / sent, 5) if sent else 0.0


def _kind_rates(kind: str, sent: int, found: dict[tuple[str, str], int]) -> KindRates:
    hard, complaints = found.get(HARD_BOUNCE, 0), found.get(COMPLAINT, 0)
    unsubscribes = found.get(UNSUBSCRIBE, 0)
    return KindRates(kind, sent, hard, sum(found.get(k, 0) for k in SOFT_BOUNCE), complaints,
                     unsubscribes, found.get(BLAMES_US, 0), _ratio(hard, sent),
                     _ratio(complaints, sent), _ratio(unsubscribes, sent))


def _kinds(stores: Stores, since: datetime) -> list[KindRates]:
    counted: dict[str, dict[tuple[str, str], int]] = {}
    for row in stores.feedback.counts(since):
        if row.action not in ("untrusted", "kept", "ignored"):
            kind = counted.setdefault(row.kind or NO_KIND, {})
            kind[(row.type, row.action)] = kind.get((row.type, row.action), 0) + row.count
    went_out = stores.ledger.outcome_counts(since, [JobStatus.SENT, JobStatus.BOUNCED])
    kinds = [k.value for k in Kind] + ([NO_KIND] if NO_KIND in counted else [])
    return [_kind_rates(kind, sum(went_out.get(kind, {}).values()), counted.get(kind, {}))
            for kind in kinds]


def _runs(stores: Stores, progress: Sequence[RunProgress], now: datetime) -> list[RunRates]:
    recent = [p for p in progress if p.run.created_at >= now - RUN_WINDOW]
    returns = stores.feedback.run_returns([p.run.id for p in recent])
    rates = []
    for p in recent:
        back = returns[p.run.id]
        rates.append(RunRates(p.run.id, p.run.edition, p.state, p.went_out, back.hard_bounces,
                              back.complaints, _ratio(back.hard_bounces, p.went_out),
                              _ratio(back.complaints, p.went_out)))
    return rates


def collect_feedback(stores: Stores, progress: Sequence[RunProgress], now: datetime
                     ) -> FeedbackFigures:
    """`progress`: the recent runs the snapshot shows (read once for both)."""
    since = now - WINDOW
    domains = stores.feedback.domain_refusals(since)
    refusals = [DomainRefusals(d, n) for d, n in domains.top]
    if domains.other:
        refusals.append(DomainRefusals("other", domains.other))
    return FeedbackFigures(_kinds(stores, since), _runs(stores, progress, now), refusals,
                           stores.feedback.untrusted(since))


def feedback_problems(figures: FeedbackFigures, policy: FeedbackPausePolicy) -> list[str]:
    """A line for each kind whose last 24 hours pass a pause threshold, with what to do
    (a run over one pauses itself, and its pause is a problem of its own)."""
    problems = []
    for rates in figures.kinds:
        over = policy.breach(rates.sent, rates.hard_bounces, rates.complaints)
        if over is None:
            continue
        if rates.hard_bounce_ratio > policy.bounce_ratio:
            step = ("the addresses are suppressed already; find where they came from (an old "
                    "or bought list, an import) before the next send "
                    "(docs/operations.md#newsmailerrunhardbounceshigh)")
        else:
            step = ("those readers are unsubscribed already; check what the mail says and how "
                    "its readers signed up (docs/operations.md#newsmailercomplaintratehigh)")
        problems.append(f"{rates.kind} mail in the last 24 h: {over}: {step}")
    return problems
