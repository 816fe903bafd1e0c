"""Group commit: concurrent requests recorded in shared transactions, each queued only
after its row is committed; real SQLite (and PostgreSQL when configured), real Redis."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import redis

from mailer.config import Settings
from mailer.db import SessionFactory
from mailer.delivery.deliverer import Job
from mailer.delivery.ledger import NOT_QUEUED, DeliveryLedger, JobStatus
from mailer.errors import ServiceUnavailable
from mailer.local.embedded import RedisServer
from mailer.queue import SHARE_TASK, load_job_queue
from mailer.web.group_commit import GroupCommit
from tests.web.test_app import queued_payloads


class CountingLedger(DeliveryLedger):
    """The real ledger, counting its transactions."""

    def __init__(self, sessions: SessionFactory) -> None:
        super().__init__(sessions)
        self.transactions = 0

    def create_many_now(self, jobs: Sequence[tuple[str, str, str, str, dict[str, Any] | None]]
                        ) -> None:
        self.transactions += 1
        super().create_many_now(jobs)


async def submit_all(commit: GroupCommit, count: int) -> list[BaseException | None]:
    jobs = [Job(f"job{i:04d}", "share", f"friend{i}@example.org", "a-story")
            for i in range(count)]
    return await asyncio.gather(*(commit.submit(job, SHARE_TASK, {"job_id": job.id})
                                  for job in jobs), return_exceptions=True)


def submit_through(ledger: DeliveryLedger, settings: Settings,
                   count: int) -> list[BaseException | None]:
    """`count` jobs submitted at once through a group commit of their own."""
    queue = load_job_queue(settings)
    commit = GroupCommit(ledger=ledger, queue=queue)
    try:
        return asyncio.run(submit_all(commit, count))
    finally:
        commit.close()
        queue.close()


def test_concurrent_jobs_share_transactions_and_are_all_queued(
        sessions: SessionFactory, make_settings: Callable[..., Settings],
        redis_client: redis.Redis) -> None:
    ledger = CountingLedger(sessions)
    results = submit_through(ledger, make_settings(), 200)
    assert results == [None] * 200
    assert ledger.transactions < 200, "some requests shared a transaction"
    assert sorted(str(p["job_id"]) for p in queued_payloads(redis_client)) == \
        [f"job{i:04d}" for i in range(200)]
    record = ledger.get("job0007")
    assert record is not None and record.status is JobStatus.QUEUED


def test_a_broker_that_is_away_gives_503_and_the_row_says_so(
        sessions: SessionFactory, make_settings: Callable[..., Settings],
        tmp_path: Path) -> None:
    gone = RedisServer(tmp_path / "redis").start()
    gone.stop()
    ledger = DeliveryLedger(sessions)
    [result] = submit_through(ledger, make_settings(redis_url=gone.url), 1)
    assert isinstance(result, ServiceUnavailable)
    record = ledger.get("job0000")
    assert record is not None
    assert (record.status, record.last_reply) == (JobStatus.FAILED, NOT_QUEUED)


def test_a_database_that_is_away_gives_503_and_nothing_is_queued(
        make_settings: Callable[..., Settings], redis_client: redis.Redis,
        tmp_path: Path) -> None:
    # A database file whose tables do not exist: every write fails as unavailable.
    from mailer.db import make_engine, session_factory

    ledger = DeliveryLedger(session_factory(make_engine(f"sqlite:///{tmp_path / 'none.db'}")))
    results = submit_through(ledger, make_settings(), 3)
    assert all(isinstance(r, ServiceUnavailable) for r in results)
    assert queued_payloads(redis_client) == []


def test_after_close_jobs_are_refused(sessions: SessionFactory,
                                      make_settings: Callable[..., Settings]) -> None:
    queue = load_job_queue(make_settings())
    commit = GroupCommit(ledger=DeliveryLedger(sessions), queue=queue)
    commit.close()
    try:
        with pytest.raises(ServiceUnavailable):
            asyncio.run(commit.submit(Job("late", "share", "a@example.org", "s"), SHARE_TASK,
                                      {"job_id": "late"}))
    finally:
        queue.close()
