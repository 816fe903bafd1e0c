"""The ledger's writes: new rows, claims, outcomes, re-queues, digest rows in bulk."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Collection, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

from sqlalchemy import (
    Connection,
    Table,
    bindparam,
    case,
    false,
    func,
    literal,
    or_,
    select,
    text,
    true,
    update,
)
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from mailer.db import (
    InList,
    SessionFactory,
    insert_ignore,
    insert_select_ignore,
    random_hex_id,
    refresh_statistics,
    together,
    transaction,
)
from mailer.delivery.ledger.queries import LedgerQueries
from mailer.delivery.ledger.records import (
    FINAL,
    NOT_QUEUED,
    Claim,
    Claimed,
    JobRecord,
    JobStatus,
    Kind,
    Resent,
)
from mailer.errors import ServiceUnavailable
from mailer.models import DeliveryRow, UTCDateTime, utcnow

T = TypeVar("T")

_RECORD_FROM_ARRAYS = text("""
    UPDATE deliveries AS d
    SET status = v.status, last_reply = v.reply, lease_until = NULL, updated_at = :at
    FROM unnest(CAST(:ids AS text[]), CAST(:statuses AS text[]), CAST(:replies AS text[]))
         AS v(id, status, reply)
    WHERE d.id = v.id
""").bindparams(bindparam("at", type_=UTCDateTime()))


def _new_rows(jobs: Sequence[tuple[str, str, str, str, dict[str, Any] | None]]
              ) -> list[dict[str, Any]]:
    now = utcnow()
    return [{"id": job_id, "kind": kind, "recipient": recipient,
             "reference": reference[:200], "status": JobStatus.QUEUED.value,
             "attempts": 0, "last_reply": "", "created_at": now, "updated_at": now,
             "payload": json.dumps(payload) if payload else None}
            for job_id, kind, recipient, reference, payload in jobs]



def _claim_statement() -> Any:
    """Claimable rows become `sending` with a lease; those of them past their delivery
    window (queued or deferred, not a lease run out) become `expired`. In SET and WHERE
    a column is the row as it was, on both databases. The ids are one list parameter
    (`InList`): the statement is compiled once per process, not once per batch.

    Which rows are claimable is a CASE, which no index can answer, so the rows are
    found by key: as `status IN (...) OR ...`, SQLite (without statistics) and
    PostgreSQL (with stale ones) walked the status index through every queued row of
    the run, for each batch (41 us a row claimed at 20,000 queued, growing with the
    run, against 10)."""
    row = DeliveryRow
    now = bindparam("now", type_=row.updated_at.type)
    waiting = row.status.in_([JobStatus.QUEUED.value, JobStatus.DEFERRED.value])
    expired = waiting & (row.expires_at < now)
    lease_over = (row.status == JobStatus.SENDING.value) & (row.lease_until < now)
    return (update(row)
            .where(InList(row.id, "ids"))
            .where(case((waiting, true()), (lease_over, true()), else_=false()))
            .values(status=case((expired, JobStatus.EXPIRED.value),
                                else_=JobStatus.SENDING.value),
                    lease_until=case((expired, row.lease_until),
                                     else_=bindparam("lease_until",
                                                     type_=row.lease_until.type)),
                    attempts=case((expired, row.attempts), else_=row.attempts + 1),
                    last_reply=case((expired, "not sent: past its delivery window"),
                                    else_=row.last_reply),
                    updated_at=now)
            .returning(row.id, row.subscriber_id, row.reference, row.attempts,
                       row.created_at, row.kind, row.status))


_CLAIM = _claim_statement()

class DeliveryLedger(LedgerQueries):
    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions
        self._kept: dict[str, Connection] = {}  # see _commit_kept
        table = self._table = cast(Table, DeliveryRow.__table__)
        # Core statements built once: the ORM's per-call compilation cost a share
        # delivery a millisecond per statement.
        c = table.c
        self._claim_one = (
            update(table).where(c.id == bindparam("row_id"))
            .where(or_(c.status.in_([JobStatus.QUEUED.value, JobStatus.DEFERRED.value]),
                       (c.status == JobStatus.SENDING.value)
                       & (c.lease_until < bindparam("now"))))
            .values(status=JobStatus.SENDING.value, lease_until=bindparam("lease_until"),
                    attempts=c.attempts + 1, updated_at=bindparam("now"))
            .returning(c.created_at, c.expires_at))
        self._record_one = (update(table).where(table.c.id == bindparam("row_id"))
                            .values(status=bindparam("new_status"), lease_until=None,
                                    last_reply=bindparam("reply"),
                                    updated_at=bindparam("at")))
        self._bounce_one = (update(table).where(table.c.id == bindparam("row_id"))
                            .where(table.c.status == JobStatus.SENT.value)
                            .values(status=JobStatus.BOUNCED.value,
                                    last_reply=bindparam("reply"),
                                    updated_at=bindparam("at")))
        self._get_one = select(c.id, c.kind, c.status, c.recipient, c.reference, c.attempts,
                               c.last_reply, c.created_at, c.updated_at, c.run_id
                               ).where(c.id == bindparam("row_id"))

    def get(self, job_id: str) -> JobRecord | None:
        with transaction(self._sessions) as session:
            row = session.connection().execute(self._get_one, {"row_id": job_id}).first()
        return JobRecord(id=row.id, kind=row.kind, status=JobStatus(row.status),
                         recipient=row.recipient, reference=row.reference,
                         attempts=row.attempts, last_reply=row.last_reply,
                         created_at=row.created_at, updated_at=row.updated_at,
                         run_id=row.run_id) if row is not None else None

    def together(self) -> AbstractContextManager[Session]:
        """One transaction for the ledger's reads and writes inside the block
        (mailer.db.together): the ledger has connections of its own."""
        return together(self._sessions)

    def create(self, job_id: str, *, kind: str, recipient: str, reference: str,
               payload: dict[str, Any] | None = None) -> None:
        """`payload` is kept so that a failed message can be resent."""
        self.create_many([(job_id, kind, recipient, reference, payload)])

    def create_once(self, job_id: str, *, kind: str, recipient: str, reference: str,
                    payload: dict[str, Any] | None = None) -> bool:
        """`create`, unless a row with this id is there already: then nothing, and
        False. For messages whose id says what they are (one welcome per confirmation),
        so two requests at once still make one message."""
        with transaction(self._sessions) as session:
            return bool(insert_ignore(session, self._table,
                                      _new_rows([(job_id, kind, recipient, reference, payload)]),
                                      ["id"], returning="id"))

    def create_many(self, jobs: Sequence[tuple[str, str, str, str, dict[str, Any] | None]]
                    ) -> None:
        """(id, kind, recipient, reference, payload) rows, queued, in one transaction."""
        with transaction(self._sessions) as session:
            session.execute(self._table.insert(), _new_rows(jobs))

    def create_many_now(self, jobs: Sequence[tuple[str, str, str, str, dict[str, Any] | None]]
                        ) -> None:
        """`create_many` on a connection kept open for it, for one thread only (the
        API's group commit, on its event loop): no pool checkout, ping or reset per
        transaction, three round trips fewer on PostgreSQL."""
        self._commit_kept("intake", lambda c: c.execute(self._table.insert(), _new_rows(jobs)))

    def claim(self, job_id: str, lease_seconds: float, *, kind: str, recipient: str,
              reference: str) -> tuple[Claim, float, datetime | None]:
        """(CLAIMED, 0, since), (DONE, 0, None) or (BUSY, seconds until the other
        worker's lease ends, None). `since` is when the message's retries started (its
        queuing, or its resending): the retry horizon counts from it.

        A lease that has run out means the worker that held it died mid-send: whether
        the relay took the message is unknown, and we send again rather than lose it.
        kind, recipient and reference recreate a row that has gone missing, so the
        message is still sent and recorded.
        """
        now = utcnow()
        lease_until = now + timedelta(seconds=lease_seconds)
        with transaction(self._sessions) as session:
            claimed = session.execute(self._claim_one, {
                "row_id": job_id, "now": now, "lease_until": lease_until}).first()
            if claimed is not None:
                created, resent = claimed
                return Claim.CLAIMED, 0.0, resent or created
            row = session.get(DeliveryRow, job_id)
            if row is None:
                session.add(DeliveryRow(id=job_id, kind=kind, recipient=recipient,
                                        reference=reference[:200],
                                        status=JobStatus.SENDING.value, attempts=1,
                                        last_reply="", lease_until=lease_until,
                                        created_at=now, updated_at=now))
                return Claim.CLAIMED, 0.0, now
            if row.status in FINAL:
                return Claim.DONE, 0.0, None
            held = row.lease_until or now
            return Claim.BUSY, max(0.0, (held - now).total_seconds()), None

    def mark_bounced(self, job_id: str, reply: str) -> bool:
        """A message the relay took (`sent`) bounced further on: its row says so, with
        the bounce's status and words. False when the row is not `sent` (a message the
        relay itself refused is `failed` already)."""
        with transaction(self._sessions) as session:
            done = session.connection().execute(self._bounce_one, {
                "row_id": job_id, "reply": reply[:1000], "at": utcnow()})
            return bool(done.rowcount)

    def mark(self, job_id: str, status: JobStatus, reply: str) -> None:
        with transaction(self._sessions) as session:
            session.execute(self._record_one, {"row_id": job_id, "new_status": status.value,
                                               "reply": reply[:1000], "at": utcnow()})

    def claim_many(self, ids: Sequence[str], lease_seconds: float) -> list[Claimed]:
        """Claim a digest batch in one UPDATE ... RETURNING, atomic on SQLite and
        PostgreSQL alike; rows past their expiry are marked expired by the same
        statement instead. Returns the claimed rows (rows already sent, or held by
        another worker, are left out). On the kept connection: one round trip on
        PostgreSQL, where the statement is atomic on its own."""
        now = utcnow()
        params = {"ids": list(ids), "now": now,
                  "lease_until": now + timedelta(seconds=lease_seconds)}
        rows = self._commit_kept("claims", lambda c: c.execute(_CLAIM, params).all(),
                                 one_statement=True)
        return [Claimed(id_, subscriber_id or "", reference, attempts, created, kind)
                for id_, subscriber_id, reference, attempts, created, kind, status in rows
                if status == JobStatus.SENDING.value]

    def record(self, outcomes: Sequence[tuple[str, JobStatus, str]]) -> None:
        """Many rows at once, each with its own status and reply."""
        if outcomes:
            with transaction(self._sessions) as session:
                self._write_outcomes(session, outcomes)

    def record_now(self, outcomes: Sequence[tuple[str, JobStatus, str]]) -> None:
        """A few rows, committed at once, on a connection kept open for it: a digest
        batch calls this every few SMTP replies as they arrive (about 75 us a commit on
        SQLite against 750 us for a fresh session), which bounds what a crash can leave
        sent but unrecorded."""
        if outcomes:
            # On PostgreSQL the write is one statement, atomic on its own.
            self._commit_kept("outcomes", lambda c: self._write_outcomes(c, outcomes),
                              one_statement=True)

    def _commit_kept(self, name: str, write: Callable[[Connection], T], *,
                     one_statement: bool = False) -> T:
        """`write`, committed at once on a connection of its own kept open under
        `name`: for one thread's frequent small commits, where a pool checkout per
        transaction costs more than the write. `one_statement`: on PostgreSQL `write`
        is a single statement, run in autocommit: one round trip instead of BEGIN,
        the statement and COMMIT. A database that does not answer closes the
        connection (the next call connects again) and is ServiceUnavailable."""
        connection = self._kept.get(name)
        try:
            if connection is None:
                engine = self._sessions.kw["bind"]
                connection = engine.connect()
                if one_statement and engine.dialect.name == "postgresql":
                    connection = connection.execution_options(isolation_level="AUTOCOMMIT")
                self._kept[name] = connection
            try:
                written = write(connection)
            except SQLAlchemyError:
                with contextlib.suppress(SQLAlchemyError):
                    connection.rollback()
                raise
            connection.commit()
            return written
        except OperationalError as exc:
            if connection is not None:
                self._kept.pop(name, None)
                with contextlib.suppress(SQLAlchemyError):
                    connection.close()
            raise ServiceUnavailable(f"the database is not answering: {exc.orig or exc}") from None

    def _write_outcomes(self, connection: Connection | Session,
                        outcomes: Sequence[tuple[str, JobStatus, str]]) -> None:
        """On PostgreSQL one UPDATE ... FROM unnest(arrays), a single statement
        whatever the number of rows; on SQLite, in process, an executemany costs no
        round trips."""
        now = utcnow()
        bind = connection.get_bind() if isinstance(connection, Session) else connection
        if bind.dialect.name == "postgresql":
            connection.execute(_RECORD_FROM_ARRAYS, {
                "at": now, "ids": [row_id for row_id, _, _ in outcomes],
                "statuses": [status.value for _, status, _ in outcomes],
                "replies": [reply[:1000] for _, _, reply in outcomes]})
            return
        connection.execute(self._record_one, [
            {"row_id": row_id, "new_status": status.value, "reply": reply[:1000], "at": now}
            for row_id, status, reply in outcomes])

    def close(self) -> None:
        kept, self._kept = self._kept, {}
        for connection in kept.values():
            with contextlib.suppress(SQLAlchemyError):
                connection.close()

    def requeue_failed(self, *, run_id: str | None, digest_until: datetime,
                       cancelled_runs: Collection[str] = ()) -> list[Resent]:
        """Failed messages back to `queued`, in one atomic UPDATE: two operators
        resending at once re-queue each message once between them. Digests get a new
        window (`digest_until`); for the others `expires_at` records the resending, so
        their retry horizon starts again. Returns what the caller must now hand to the
        broker. A cancelled run's messages stay unsent."""
        now = utcnow()
        query = (update(DeliveryRow).where(DeliveryRow.status == JobStatus.FAILED.value)
                 .where(DeliveryRow.last_reply != NOT_QUEUED)
                 .where(or_(DeliveryRow.kind == Kind.DIGEST.value,
                            DeliveryRow.payload.is_not(None))))
        if run_id is not None:
            query = query.where(DeliveryRow.run_id == run_id)
        if cancelled_runs:
            query = query.where(or_(DeliveryRow.run_id.is_(None),
                                    DeliveryRow.run_id.not_in(list(cancelled_runs))))
        was = func.substr(literal("resent; was: ") + DeliveryRow.last_reply, 1, 1000)
        with transaction(self._sessions) as session:
            found = session.execute(
                query.values(status=JobStatus.QUEUED.value, lease_until=None, updated_at=now,
                             last_reply=was,
                             expires_at=case((DeliveryRow.kind == Kind.DIGEST.value,
                                              digest_until),
                                             else_=now))
                .returning(DeliveryRow.id, DeliveryRow.kind, DeliveryRow.payload,
                           DeliveryRow.run_id)).all()
        return [Resent(id_, kind, json.loads(payload) if payload else None, run)
                for id_, kind, payload, run in found]

    def requeue_stale(self, *, queued_before: datetime, deferred_before: datetime
                      ) -> list[Resent]:
        """Shares and confirmations whose task is gone: `queued` and untouched since
        `queued_before` (the broker lost the job, say in a Redis restart without its
        append-only file), `deferred` past `deferred_before` (the retry never came),
        or `sending` with a lease that ran out before `queued_before` (the worker died).
        One atomic UPDATE marks them touched, so two sweepers re-queue each once; the
        claim stops a double send if the old task turns up after all."""
        now = utcnow()
        table = self._table
        c = table.c
        query = (update(table).where(c.kind != Kind.DIGEST.value)
                 .where(c.payload.is_not(None))
                 .where(or_((c.status == JobStatus.QUEUED.value)
                            & (c.updated_at < queued_before),
                            (c.status == JobStatus.DEFERRED.value)
                            & (c.updated_at < deferred_before),
                            (c.status == JobStatus.SENDING.value)
                            & (c.lease_until < queued_before)))
                 .values(status=case((c.status == JobStatus.SENDING.value,
                                      JobStatus.QUEUED.value), else_=c.status),
                         lease_until=None, updated_at=now)
                 .returning(c.id, c.kind, c.payload, c.run_id))
        with transaction(self._sessions) as session:
            found = session.execute(query).all()
        return [Resent(id_, kind, json.loads(payload), run)
                for id_, kind, payload, run in found]

    def insert_digests_from(self, people: Any, *, page: int, edition: str,
                            expires: datetime, run_id: str, now: datetime,
                            kind: Kind = Kind.DIGEST) -> tuple[list[str], str | None]:
        """A digest (or alert) row for each subscriber (`id`, `email`) `people` selects
        (at most `page` of them) that has none for this edition (or story) yet, made by
        the database: the ids inserted, and the last `position` selected when the page
        was full (where the next page starts; None when there is no next page)."""
        chosen = people.limit(page).subquery()
        key = literal(f"{kind.value}:{edition}:") + chosen.c.id
        with transaction(self._sessions) as session:
            last, selected = session.execute(
                select(func.max(chosen.c.position), func.count())).one()
            if not selected:
                return [], None
            source = select(
                random_hex_id(session), literal(kind.value), chosen.c.email,
                literal(edition), literal(JobStatus.QUEUED.value), literal(0), literal(""),
                literal(now, UTCDateTime()), literal(now, UTCDateTime()), key, chosen.c.id,
                literal(expires, UTCDateTime()), literal(run_id)
            ).where(true())  # SQLite reads ON CONFLICT after a bare SELECT ... FROM as a join
            ids = insert_select_ignore(
                session, self._table,
                ["id", "kind", "recipient", "reference", "status", "attempts", "last_reply",
                 "created_at", "updated_at", "dedupe_key", "subscriber_id", "expires_at",
                 "run_id"], source, ["dedupe_key"], returning="id")
        return ids, (str(last) if selected == page else None)

    def alerts_below(self, cap: int, since: datetime, recipient: Any) -> Any:
        """A condition on a query of readers: `recipient` has had fewer than `cap`
        alerts planned since `since` (those that went nowhere not counted).

        Not a count per reader: correlated, SQLite counted each reader's alerts through
        the index on `kind`, reading every alert of the day for every reader, so an
        alert's planning grew with the square of its readers (20,000 took minutes).
        Those already at the cap are found once, and the readers are those not among
        them."""
        table = self._table
        at_cap = select(table.c.recipient).where(
            table.c.kind == Kind.ALERT.value, table.c.created_at >= since,
            table.c.status.not_in([JobStatus.SKIPPED.value, JobStatus.CANCELLED.value,
                                   JobStatus.EXPIRED.value, JobStatus.SUPPRESSED.value])
        ).group_by(table.c.recipient).having(func.count() >= cap)
        return recipient.not_in(at_cap) if cap > 0 else false()

    def alerted(self, subscriber_ids: Collection[str], since: datetime) -> dict[str, set[str]]:
        """The stories each reader was sent as alerts since `since`: their digests leave
        them out."""
        table = self._table
        found: dict[str, set[str]] = {}
        ids = list(subscriber_ids)
        with transaction(self._sessions) as session:
            for start in range(0, len(ids), 500):
                for subscriber_id, article_id in session.execute(
                        select(table.c.subscriber_id, table.c.reference).where(
                            table.c.kind == Kind.ALERT.value,
                            InList(table.c.subscriber_id, "ids"),
                            table.c.status.in_([JobStatus.SENT.value, JobStatus.BOUNCED.value]),
                            table.c.created_at >= since), {"ids": ids[start:start + 500]}):
                    found.setdefault(subscriber_id, set()).add(article_id)
        return found

    def refresh_statistics(self) -> None:
        """See `mailer.db.refresh_statistics`: the planner calls this as it adds rows."""
        with transaction(self._sessions) as session:
            refresh_statistics(session, self._table.name)

    def stale_digests(self, now: datetime, older_than: timedelta, retry_max: timedelta,
                      halted_runs: Collection[str] = ()) -> list[tuple[str, str | None]]:
        """(id, run) of digests whose batch task is gone: `queued` long after planning,
        `deferred` and not retried for as long past the longest backoff, or `sending`
        past their lease; within their window, and not in a paused or cancelled run
        (those keep their rows on purpose)."""
        query = (select(DeliveryRow.id, DeliveryRow.run_id)
                 .where(DeliveryRow.kind.in_([Kind.DIGEST.value, Kind.ALERT.value]))
                 .where(or_((DeliveryRow.status == JobStatus.QUEUED.value)
                            & (DeliveryRow.created_at < now - older_than),
                            (DeliveryRow.status == JobStatus.DEFERRED.value)
                            & (DeliveryRow.updated_at < now - older_than - retry_max),
                            (DeliveryRow.status == JobStatus.SENDING.value)
                            & (DeliveryRow.lease_until < now)))
                 .where(DeliveryRow.expires_at > now))
        if halted_runs:
            query = query.where(or_(DeliveryRow.run_id.is_(None),
                                    DeliveryRow.run_id.not_in(list(halted_runs))))
        with transaction(self._sessions) as session:
            return [(id_, run) for id_, run in session.execute(query).all()]

    def unsent_in_run(self, run_id: str) -> list[str]:
        """A run's messages still to send within their window."""
        with transaction(self._sessions) as session:
            return list(session.execute(
                select(DeliveryRow.id).where(DeliveryRow.run_id == run_id)
                .where(DeliveryRow.status.in_([JobStatus.QUEUED.value, JobStatus.DEFERRED.value]))
                .where(DeliveryRow.expires_at > utcnow())).scalars())

    def cancel_run(self, run_id: str) -> int:
        """A run's unsent messages recorded as cancelled; how many."""
        with transaction(self._sessions) as session:
            result = session.execute(
                update(DeliveryRow).where(DeliveryRow.run_id == run_id)
                .where(DeliveryRow.status.in_([JobStatus.QUEUED.value, JobStatus.DEFERRED.value]))
                .values(status=JobStatus.CANCELLED.value, lease_until=None, updated_at=utcnow(),
                        last_reply="not sent: run cancelled"))
            return int(getattr(result, "rowcount", 0))
