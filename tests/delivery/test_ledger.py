from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from sqlalchemy import Connection, Engine, event

from mailer import services
from mailer.config import Settings
from mailer.db import SessionFactory
from mailer.delivery.ledger import NOT_QUEUED, Claim, DeliveryLedger, JobStatus
from mailer.subscriptions.model import Preferences, SignUp
from mailer.validation import mask_address
from tests.conftest import empty_database

CLAIM = {"kind": "share", "recipient": "bob@example.org", "reference": "a-story"}


@pytest.fixture
def ledger(sessions: SessionFactory) -> DeliveryLedger:
    return DeliveryLedger(sessions)


def test_new_job_is_queued(ledger: DeliveryLedger) -> None:
    ledger.create("j1", kind="share", recipient="bob@example.org", reference="a-story")
    record = ledger.get("j1")
    assert record is not None
    assert (record.status, record.attempts, record.recipient) == (JobStatus.QUEUED, 0,
                                                                  "bob@example.org")


def test_claim_then_a_second_claim_waits(ledger: DeliveryLedger) -> None:
    ledger.create("j2", **CLAIM)
    verdict, _, since = ledger.claim("j2", 30, **CLAIM)
    assert verdict is Claim.CLAIMED and since is not None
    verdict, wait, _ = ledger.claim("j2", 30, **CLAIM)
    assert verdict is Claim.BUSY
    assert 25 < wait <= 30


def test_sent_job_is_never_claimed_again(ledger: DeliveryLedger) -> None:
    ledger.create("j3", **CLAIM)
    ledger.claim("j3", 30, **CLAIM)
    ledger.mark("j3", JobStatus.SENT, "250 OK")
    assert ledger.claim("j3", 30, **CLAIM) == (Claim.DONE, 0.0, None)
    record = ledger.get("j3")
    assert record is not None and record.status is JobStatus.SENT and record.attempts == 1
    assert record.last_reply == "250 OK"


def test_deferred_job_can_be_claimed_again(ledger: DeliveryLedger) -> None:
    ledger.create("j4", **CLAIM)
    ledger.claim("j4", 30, **CLAIM)
    ledger.mark("j4", JobStatus.DEFERRED, "451 later")
    assert ledger.claim("j4", 30, **CLAIM)[0] is Claim.CLAIMED
    record = ledger.get("j4")
    assert record is not None and record.attempts == 2 and record.last_reply == "451 later"


def test_expired_lease_is_taken_over(ledger: DeliveryLedger) -> None:
    ledger.create("j5", **CLAIM)
    ledger.claim("j5", 0.2, **CLAIM)
    time.sleep(0.3)
    assert ledger.claim("j5", 30, **CLAIM)[0] is Claim.CLAIMED


def test_missing_record_is_recreated_on_claim(ledger: DeliveryLedger) -> None:
    assert ledger.claim("gone", 30, **CLAIM)[0] is Claim.CLAIMED
    record = ledger.get("gone")
    assert record is not None
    assert (record.kind, record.recipient, record.reference, record.status) == (
        "share", "bob@example.org", "a-story", JobStatus.SENDING)


def test_only_one_of_many_racing_claims_wins(ledger: DeliveryLedger) -> None:
    from concurrent.futures import ThreadPoolExecutor

    ledger.create("race", **CLAIM)
    with ThreadPoolExecutor(8) as pool:
        verdicts = list(pool.map(lambda _: ledger.claim("race", 30, **CLAIM)[0], range(16)))
    assert verdicts.count(Claim.CLAIMED) == 1
    assert verdicts.count(Claim.BUSY) == 15


def test_public_view_masks_the_address() -> None:
    assert mask_address("vuqar@example.org") == "v***@example.org"


def test_get_unknown_job_is_none(ledger: DeliveryLedger) -> None:
    assert ledger.get("nope") is None


def test_failed_lists_only_failed_newest_first(ledger: DeliveryLedger) -> None:
    for job_id, status in (("a", JobStatus.FAILED), ("b", JobStatus.SENT),
                           ("c", JobStatus.FAILED)):
        ledger.create(job_id, **CLAIM)
        ledger.mark(job_id, status, f"{job_id} reply")
        time.sleep(0.01)
    assert [r.id for r in ledger.failed()] == ["c", "a"]
    later = ledger.get("c")
    assert later is not None
    assert [r.id for r in ledger.failed(since=later.updated_at)] == ["c"]


def test_requeue_failed_takes_each_message_once(ledger: DeliveryLedger) -> None:
    from concurrent.futures import ThreadPoolExecutor
    from datetime import UTC, datetime

    for job_id in ("x", "y"):
        ledger.create(job_id, **CLAIM, payload={"job_id": job_id})
        ledger.mark(job_id, JobStatus.FAILED, "550 no")
    ledger.create("sent", **CLAIM, payload={"job_id": "sent"})
    ledger.mark("sent", JobStatus.SENT, "250 ok")
    ledger.create("refused", **CLAIM, payload={"job_id": "refused"})
    ledger.mark("refused", JobStatus.FAILED, NOT_QUEUED)
    with ThreadPoolExecutor(4) as pool:
        rounds = list(pool.map(lambda _: ledger.requeue_failed(
            run_id=None, digest_until=datetime.now(UTC)), range(4)))
    resent = [r for found in rounds for r in found]
    assert sorted(r.id for r in resent) == ["x", "y"], "each failed one once; never a 503'd one"
    assert {r.id: r.payload for r in resent} == {"x": {"job_id": "x"}, "y": {"job_id": "y"}}
    record = ledger.get("x")
    assert record is not None and record.status is JobStatus.QUEUED
    assert record.last_reply == "resent; was: 550 no"
    verdict, _, since = ledger.claim("x", 30, **CLAIM)
    assert verdict is Claim.CLAIMED and since is not None and since > record.created_at


def test_requeue_stale_finds_lost_messages_once(ledger: DeliveryLedger) -> None:
    from datetime import timedelta

    from mailer.models import utcnow

    payload = {"job_id": "x"}
    for job_id, status in (("lost-queued", None), ("lost-deferred", JobStatus.DEFERRED),
                           ("dead-worker", "sending"), ("sent", JobStatus.SENT),
                           ("no-payload", None)):
        ledger.create(job_id, **CLAIM, payload=None if job_id == "no-payload" else payload)
        if status == "sending":
            ledger.claim(job_id, 0.01, **CLAIM)
        elif status is not None:
            ledger.mark(job_id, status, "451 later" if status is JobStatus.DEFERRED else "250")
    time.sleep(0.05)
    now = utcnow()
    # A deferral is only lost once its longest backoff has passed as well.
    found = ledger.requeue_stale(queued_before=now, deferred_before=now - timedelta(hours=1))
    assert sorted(r.id for r in found) == ["dead-worker", "lost-queued"]
    assert all(r.payload == payload and r.kind == "share" for r in found)
    record = ledger.get("dead-worker")
    assert record is not None and record.status is JobStatus.QUEUED
    # Touched now: a second sweep with the same cut-off finds nothing.
    assert ledger.requeue_stale(queued_before=now,
                                deferred_before=now - timedelta(hours=1)) == []
    later = utcnow()
    assert [r.id for r in ledger.requeue_stale(queued_before=now, deferred_before=later)] \
        == ["lost-deferred"]



def test_only_ledger_commits_skip_the_flush_wait_on_postgresql(
        database_url: str, make_settings: Callable[..., Settings]) -> None:
    """Ledger writes come back after a database crash (docs/guarantees.md);
    subscribers and unsubscribes would not, so their commits keep waiting for the disk."""
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's synchronous_commit; SQLite's WAL mode never waits")
    with empty_database(database_url):
        pass
    stores = services.stores(make_settings(database_url=database_url), seed=False)

    def setting(connection: Connection, *_: object) -> None:
        seen.append(str(connection.exec_driver_sql("SHOW synchronous_commit").scalar()))

    seen: list[str] = []
    event.listen(Engine, "commit", setting)
    try:
        stores.ledger.create("job-1", kind="share", recipient="a@example.org", reference="x")
        stores.ledger.claim("job-1", 30, kind="share", recipient="a@example.org",
                            reference="x")
        stores.ledger.record_now([("job-1", JobStatus.SENT, "250 ok")])
        stores.subscribers.add_active(SignUp("b@example.org", "", Preferences(
            ("politics",), "Asia/Baku", 7)))
    finally:
        event.remove(Engine, "commit", setting)
        stores.close()
    assert seen == ["off", "off", "off", "on"]


def test_reports_for_ops_oldest_waiting_and_top_replies(ledger: DeliveryLedger) -> None:
    from datetime import timedelta

    from mailer.models import utcnow

    assert ledger.oldest_unfinished("digest") is None
    for n in range(5):
        ledger.create(f"r{n}", kind="digest", recipient=f"p{n}@example.org", reference="e")
    first = ledger.get("r0")
    assert first is not None
    ledger.mark("r0", JobStatus.SENT, "250 ok")
    ledger.mark("r1", JobStatus.DEFERRED, "451 4.7.1 greylisted")
    ledger.mark("r2", JobStatus.DEFERRED, "451 4.7.1 greylisted")
    ledger.mark("r3", JobStatus.FAILED, "550 5.1.1 no such user")
    oldest = ledger.oldest_unfinished("digest")
    assert oldest is not None and abs((oldest - first.created_at).total_seconds()) < 5
    assert ledger.oldest_unfinished("share") is None
    top = ledger.top_replies(utcnow() - timedelta(hours=1),
                             [JobStatus.DEFERRED, JobStatus.FAILED])
    assert top == [("deferred", "451 4.7.1 greylisted", 2),
                   ("failed", "550 5.1.1 no such user", 1)]
    assert ledger.top_replies(utcnow() + timedelta(minutes=1), [JobStatus.FAILED]) == []


def test_a_batch_claim_finds_its_rows_by_key_whatever_is_queued(
        ledger: DeliveryLedger, sessions: SessionFactory) -> None:
    """Not through the status index, which holds every queued row of the run: a claim
    of 500 then cost as much as a scan of the backlog, for every batch."""
    ledger.create_many([(f"q{i}", "digest", f"r{i}@example.org", "2026-11-26", None)
                        for i in range(5000)])
    ledger.refresh_statistics()  # as the planner does (PostgreSQL: else a scan of 5,000)
    engine = sessions.kw["bind"]
    seen: list[tuple[str, object]] = []

    def capture(conn: Connection, cursor: object, statement: str, parameters: object,
                context: object, executemany: bool) -> None:
        if statement.lstrip().startswith("UPDATE deliveries"):
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        claimed = ledger.claim_many([f"q{i}" for i in range(0, 5000, 25)] + ["missing"], 60)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    assert sorted(c.id for c in claimed) == sorted(f"q{i}" for i in range(0, 5000, 25))
    (statement, parameters), = seen
    with engine.connect() as connection:
        cursor = connection.connection.dbapi_connection.cursor()
        explain = ("EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite"
                   else "EXPLAIN (COSTS OFF) ")
        cursor.execute(explain + statement, parameters)
        plan = " ".join(str(row) for row in cursor.fetchall())
        connection.rollback()
    assert "ix_deliveries_status" not in plan, plan
    if engine.dialect.name == "sqlite":  # PostgreSQL may scan a table this small
        assert "sqlite_autoindex_deliveries_1" in plan, plan
