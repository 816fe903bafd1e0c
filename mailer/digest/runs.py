"""Digest runs: pause, resume, cancel, and the automatic pause of a run whose mail is
bouncing (a broken list import, a relay that turned against us) before it burns the
sending domain's reputation.

Redis keys (FailureWindow):

    mailer:run:<run id>:recent   list, newest first, of the run's last N outcomes
                                 ("1" failed permanently, "0" sent); expires in 3 days
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from itertools import pairwise

import redis
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from mailer.db import SessionFactory, transaction
from mailer.delivery.ledger import DeliveryLedger, JobStatus, finished
from mailer.errors import InvalidInput, NotFound, ServiceUnavailable
from mailer.models import DigestRunRow, utcnow

KEY_PREFIX = "mailer:run:"


class RunStatus(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class RunInfo:
    id: str
    edition: str
    status: RunStatus
    total: int
    reason: str
    created_at: datetime
    kind: str = "digest"  # or "alert"
    article_id: str | None = None  # an alert's story


RUN_STATES = ("running", "paused", "cancelled", "done")  # RunStatus, and `done`


@dataclass(frozen=True)
class RunProgress:
    """A run as people see it: the one place that says when a run is `done`, so the
    CLI, `mailer status`, /ops and the metrics cannot disagree. The stored status stays
    `running` (nothing writes when the last message lands); `done` is read off the
    ledger: every message of the run is final."""

    run: RunInfo
    counts: dict[JobStatus, int]

    @property
    def finished(self) -> int:
        return finished(self.counts)

    @property
    def sent(self) -> int:
        return self.counts.get(JobStatus.SENT, 0)

    @property
    def went_out(self) -> int:
        return went_out(self.counts)

    @property
    def state(self) -> str:
        if self.run.status is RunStatus.RUNNING and self.finished >= self.run.total:
            return "done"
        return self.run.status.value

    def eta_seconds(self, now: datetime) -> float | None:
        """At the pace so far; None before the first message is through or once done."""
        elapsed = (now - self.run.created_at).total_seconds()
        if self.state != "running" or not self.finished or elapsed <= 0:
            return None
        return (self.run.total - self.finished) * elapsed / self.finished


def went_out(counts: dict[JobStatus, int]) -> int:
    """Messages the relay took: those still `sent` and those that bounced since."""
    return counts.get(JobStatus.SENT, 0) + counts.get(JobStatus.BOUNCED, 0)


class DigestRuns:
    """The only code that reads or writes `digest_runs`; a run's messages it reaches
    through the ledger."""

    def __init__(self, sessions: SessionFactory, ledger: DeliveryLedger) -> None:
        self._sessions = sessions
        self._ledger = ledger

    def open(self, run_id: str, edition: str, now: datetime) -> None:
        with transaction(self._sessions) as session:
            session.add(DigestRunRow(id=run_id, edition=edition,
                                     status=RunStatus.RUNNING.value, total=0,
                                     created_at=now, updated_at=now))

    def open_alert(self, run_id: str, article_id: str, edition: str, now: datetime) -> bool:
        """An alert run for a story; False when the story has one already (an alert
        goes once, however often the CMS marks it breaking)."""
        try:
            with transaction(self._sessions) as session:
                session.add(DigestRunRow(id=run_id, edition=edition, kind="alert",
                                         article_id=article_id, status=RunStatus.RUNNING.value,
                                         total=0, created_at=now, updated_at=now))
        except IntegrityError:
            return False
        return True

    def alert_for(self, article_id: str) -> RunInfo | None:
        with transaction(self._sessions) as session:
            row = session.scalar(select(DigestRunRow)
                                 .where(DigestRunRow.article_id == article_id))
            return _info(row) if row is not None else None

    def running_alerts(self, since: datetime) -> list[RunInfo]:
        """Alert runs opened since `since` and still running: those whose readers in
        quiet hours may still be due."""
        with transaction(self._sessions) as session:
            rows = session.scalars(select(DigestRunRow).where(
                DigestRunRow.kind == "alert", DigestRunRow.created_at >= since,
                DigestRunRow.status == RunStatus.RUNNING.value))
            return [_info(row) for row in rows]

    def add_to_total(self, run_id: str, more: int) -> None:
        with transaction(self._sessions) as session:
            session.execute(update(DigestRunRow).where(DigestRunRow.id == run_id)
                            .values(total=DigestRunRow.total + more, updated_at=utcnow()))

    def set_total(self, run_id: str, total: int) -> None:
        with transaction(self._sessions) as session:
            session.execute(update(DigestRunRow).where(DigestRunRow.id == run_id)
                            .values(total=total, updated_at=utcnow()))

    def ids_in(self, statuses: set[RunStatus]) -> set[str]:
        with transaction(self._sessions) as session:
            return set(session.execute(select(DigestRunRow.id).where(
                DigestRunRow.status.in_([s.value for s in statuses]))).scalars())

    def get(self, run_id: str) -> RunInfo:
        with transaction(self._sessions) as session:
            row = session.get(DigestRunRow, run_id)
            if row is None:
                raise NotFound(f"no digest or alert run {run_id!r}")
            return _info(row)

    def resolve(self, given: str) -> str:
        """The run's full id from its id or any unique prefix of it, as git takes
        commits (a trailing "…" copied from a table is ignored); NotFound for none,
        InvalidInput naming the candidates for several."""
        prefix = given.strip().rstrip("…")
        with transaction(self._sessions) as session:
            if prefix and session.get(DigestRunRow, prefix) is not None:
                return prefix
            ids = sorted(session.scalars(select(DigestRunRow.id).where(
                DigestRunRow.id.startswith(prefix, autoescape=True)).limit(6)))
        if not prefix or not ids:
            raise NotFound(f"no digest or alert run {given!r}")
        if len(ids) > 1:
            more = ", …" if len(ids) > 5 else ""
            raise InvalidInput({"run": f"{given!r} names more than one run: "
                                       f"{', '.join(ids[:5])}{more}; give more of the id"})
        return ids[0]

    def id_length(self, minimum: int = 8) -> int:
        """How many leading characters tell every recorded run apart (at least
        `minimum`): what tables show of an id, so what they show is always accepted."""
        with transaction(self._sessions) as session:
            ids = sorted(session.scalars(select(DigestRunRow.id)))
        shared = max((_common(a, b) for a, b in pairwise(ids)), default=0)
        return max(minimum, shared + 1)

    def kind(self, run_id: str) -> str | None:
        """"digest" or "alert"; None for a run that is not recorded."""
        with transaction(self._sessions) as session:
            found = session.execute(select(DigestRunRow.kind)
                                    .where(DigestRunRow.id == run_id)).scalar()
        return str(found) if found else None

    def status(self, run_id: str) -> RunStatus | None:
        """None for a run that is not recorded (batches queued before runs existed)."""
        with transaction(self._sessions) as session:
            found = session.execute(select(DigestRunRow.status)
                                    .where(DigestRunRow.id == run_id)).scalar()
        return RunStatus(found) if found else None

    def running_since(self, run_id: str) -> datetime | None:
        """When the run last started running (planned, or resumed by an operator);
        None when it is not running. What comes back of it is judged from then, so a
        resumed run is not paused again at once for what paused it."""
        with transaction(self._sessions) as session:
            found = session.execute(select(DigestRunRow.updated_at)
                                    .where(DigestRunRow.id == run_id,
                                           DigestRunRow.status == RunStatus.RUNNING.value)
                                    ).scalar()
        return found

    def recent(self, limit: int = 20, kind: str | None = None) -> list[RunInfo]:
        """The latest runs, newest first: of one kind (digest, alert) when given."""
        query = select(DigestRunRow).order_by(DigestRunRow.created_at.desc()).limit(limit)
        if kind is not None:
            query = query.where(DigestRunRow.kind == kind)
        with transaction(self._sessions) as session:
            return [_info(r) for r in session.execute(query).scalars()]

    def progress(self, limit: int = 20, kind: str | None = None) -> list[RunProgress]:
        """The latest runs, newest first, each with its messages' counts."""
        return [RunProgress(run, self._ledger.run_counts(run.id))
                for run in self.recent(limit, kind)]

    def _move(self, run_id: str, came_from: set[RunStatus], to: RunStatus,
              reason: str) -> bool:
        with transaction(self._sessions) as session:
            result = session.execute(
                update(DigestRunRow).where(DigestRunRow.id == run_id)
                .where(DigestRunRow.status.in_([s.value for s in came_from]))
                .values(status=to.value, reason=reason[:300], updated_at=utcnow()))
            return bool(getattr(result, "rowcount", 0))

    def pause(self, run_id: str, reason: str) -> bool:
        """True if this call paused it (False: already paused, or not running)."""
        return self._move(run_id, {RunStatus.RUNNING}, RunStatus.PAUSED, reason)

    def refuse_if_done(self, run_id: str, verb: str) -> None:
        """An operator's pause, resume or cancel of a finished run (every message final)
        is refused: its stored status is still `running`, so pausing it would "work" and
        leave a run that can never end paused, turning `status` and /ops degraded.
        Not an alert's: readers in quiet hours are planned into it later, so it may be
        stopped while every message planned so far is through."""
        progress = RunProgress(self.get(run_id), self._ledger.run_counts(run_id))
        if progress.state == "done" and progress.run.kind == "digest" and progress.run.total:
            raise InvalidInput({"run": f"run {run_id} is done (all {progress.run.total} of "
                                       f"its messages are final): there is nothing to {verb}"})

    def pause_or_explain(self, run_id: str, reason: str) -> None:
        self.refuse_if_done(run_id, "pause")
        if not self.pause(run_id, reason):
            raise InvalidInput({"run": f"run {run_id} is {self.get(run_id).status.value}, "
                                       "not running"})

    def resume(self, run_id: str) -> list[str]:
        """Running again; returns the ids of its messages still to send, for the caller
        to queue (a paused run's batches were dropped, its rows kept)."""
        self.refuse_if_done(run_id, "resume")
        if not self._move(run_id, {RunStatus.PAUSED}, RunStatus.RUNNING, ""):
            raise InvalidInput({"run": f"run {run_id} is {self.get(run_id).status.value}, "
                                       "not paused"})
        return self._ledger.unsent_in_run(run_id)

    def cancel(self, run_id: str) -> int:
        """Cancelled for good: its unsent messages are recorded as cancelled. Returns
        how many. A batch already mid-send finishes that batch."""
        self.refuse_if_done(run_id, "cancel")
        if not self._move(run_id, {RunStatus.RUNNING, RunStatus.PAUSED}, RunStatus.CANCELLED,
                          "cancelled by an operator"):
            raise InvalidInput({"run": f"run {run_id} is {self.get(run_id).status.value}"})
        return self._ledger.cancel_run(run_id)


def _common(a: str, b: str) -> int:
    """How many leading characters two ids share."""
    return next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y),
                min(len(a), len(b)))


def _info(row: DigestRunRow) -> RunInfo:
    return RunInfo(row.id, row.edition, RunStatus(row.status), row.total, row.reason or "",
                   row.created_at, row.kind or "digest", row.article_id)


@dataclass(frozen=True)
class PausePolicy:
    ratio: float = 0.1
    window: int = 200

    @property
    def minimum(self) -> int:
        """Too few outcomes say nothing: 1 failure in the first 3 is not a trend."""
        return max(10, self.window // 4)

    def verdict(self, failed: int, total: int) -> str | None:
        if total < self.minimum or failed <= self.ratio * total:
            return None
        return (f"paused automatically: {failed} of the last {total} messages failed "
                f"permanently ({failed / total:.0%}, over the {self.ratio:.0%} threshold)")


@dataclass(frozen=True)
class FeedbackPausePolicy:
    """When what comes back from a run's mail says to stop it: hard bounces or
    complaints over a share of the messages that went out, judged once `minimum` went
    out (two complaints in the first fifty say little; mailbox providers judge a
    sender by its complaint rate, Gmail's limit is 0.3%)."""

    bounce_ratio: float = 0.05
    complaint_ratio: float = 0.003
    minimum: int = 500

    def verdict(self, sent: int, hard_bounces: int, complaints: int) -> str | None:
        over = self.breach(sent, hard_bounces, complaints)
        return f"paused automatically: {over}" if over else None

    def breach(self, sent: int, hard_bounces: int, complaints: int) -> str | None:
        """Which threshold the figures pass, in words (None: neither, or too few sent)."""
        if sent < self.minimum:
            return None
        for count, ratio, what in ((hard_bounces, self.bounce_ratio, "hard-bounced"),
                                   (complaints, self.complaint_ratio, "were reported as spam")):
            if count > ratio * sent:
                return (f"{count} of the {sent} messages sent {what} "
                        f"({count / sent:.1%}, over the {ratio:.1%} threshold)")
        return None


class FailureWindow:
    """The last N outcomes of each run, shared by all workers in Redis."""

    def __init__(self, client: redis.Redis, policy: PausePolicy) -> None:
        self._client = client
        self.policy = policy

    def add(self, run_id: str, sent: int, failed: int) -> str | None:
        """Count a batch's outcomes; returns why the run should pause, if it should."""
        if sent + failed == 0:
            return None
        key = f"{KEY_PREFIX}{run_id}:recent"
        try:
            with self._client.pipeline(transaction=True) as pipe:
                pipe.lpush(key, *(["0"] * sent + ["1"] * failed))
                pipe.ltrim(key, 0, self.policy.window - 1)
                pipe.lrange(key, 0, -1)
                pipe.expire(key, 3 * 86400)
                _, _, outcomes, _ = pipe.execute()
        except redis.RedisError as exc:
            raise ServiceUnavailable(f"Redis is not answering: {exc}") from None
        return self.policy.verdict(sum(1 for o in outcomes if o == b"1"), len(outcomes))

    def reset(self, run_id: str) -> None:
        try:
            self._client.delete(f"{KEY_PREFIX}{run_id}:recent")
        except redis.RedisError as exc:
            raise ServiceUnavailable(f"Redis is not answering: {exc}") from None
