"""A worker killed (SIGKILL) in the middle of a digest batch: a new worker and the next
planning pass finish the batch; nobody is left out, and what goes out twice is at most
what was sent but not yet recorded: MAILER_DIGEST_RECORD_EVERY messages."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from mailer.articles import Article
from mailer.config import Settings, load_settings
from mailer.db import make_engine, upgrade
from mailer.embedded import RedisServer, WorkerProcess, free_port, worker_env
from mailer.ledger import FINAL, JobStatus
from mailer.queue import DIGEST_PLAN_TASK, DIGEST_QUEUE
from mailer.services import make_planner, open_stores
from mailer.sink import start_sink
from mailer.subscribers import Preferences, SignUp
from tests.conftest import TEST_SECRET
from tests.support.smtp import RecordingHandler
from worker.producer import CeleryJobQueue

EDITION = date(2026, 11, 26)
READERS = 120


@pytest.fixture
def slow_relay(tmp_path: Path) -> tuple[RecordingHandler, int]:
    handler, port = RecordingHandler(delay=0.04), free_port()
    controller = start_sink(tmp_path, port=port, handler=handler)
    yield handler, port  # type: ignore[misc]
    controller.stop()


@pytest.mark.parametrize("record_every", [1, 20])
def test_killed_worker_mid_batch(tmp_path: Path, redis_server: RedisServer,
                                 slow_relay: tuple[RecordingHandler, int],
                                 record_every: int) -> None:
    handler, port = slow_relay
    settings: Settings = load_settings(
        secret_key=TEST_SECRET,
        redis_url=f"redis://127.0.0.1:{redis_server.port}/2", var_dir=tmp_path,
        smtp_url=f"smtp://127.0.0.1:{port}?timeout=10", send_lease_seconds=5,
        digest_requeue_seconds=5, digest_batch_size=READERS,
        digest_record_every=record_every)
    engine = make_engine(settings.database)
    upgrade(engine)
    engine.dispose()
    stores = open_stores(settings, seed=False)
    stores.articles.put_many([Article.model_validate({
        "id": "story", "title": "Story", "section": "Politics",
        "published": "2026-11-26T10:00:00+04:00", "url": "https://www.today.az/s.html",
        "lead": "Lead."})])
    stores.subscribers.import_active(
        SignUp(f"r{i}@example.org", "", Preferences(("politics",), "Asia/Baku", 7))
        for i in range(READERS))
    env = worker_env(settings)
    first = WorkerProcess(env, tmp_path / "first.log", queues="digest", name="first").start()
    queue = CeleryJobQueue(settings)
    report = make_planner(settings, stores, queue).plan(datetime.now(UTC), EDITION)
    assert (report.planned, report.batches) == (READERS, 1)

    deadline = time.monotonic() + 30
    while len(handler.received) < READERS // 2:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    first.kill()
    delivered_before = len(handler.received)
    assert delivered_before < READERS, "the batch was still in flight"

    second = WorkerProcess(env, tmp_path / "second.log", queues="digest",
                           name="second").start()
    try:
        time.sleep(settings.send_lease_seconds + 0.5)  # the dead worker's lease runs out
        queue.enqueue(DIGEST_PLAN_TASK, {"now": datetime.now(UTC).isoformat()},
                      queue=DIGEST_QUEUE)
        deadline = time.monotonic() + 60
        while True:
            counts = stores.ledger.run_counts(report.run_id or "")
            if sum(n for s, n in counts.items() if s in FINAL) == READERS:
                break
            assert time.monotonic() < deadline, counts
            time.sleep(0.1)
    finally:
        second.stop()
        queue.close()
    assert counts == {JobStatus.SENT: READERS}
    per_reader = Counter(r.rcpt_tos[0] for r in handler.received)
    assert set(per_reader) == {f"r{i}@example.org" for i in range(READERS)}, "nobody left out"
    duplicates = sum(n - 1 for n in per_reader.values())
    print(f"killed after {delivered_before} deliveries; {duplicates} duplicate(s)")
    assert duplicates <= record_every, "at most the replies not yet recorded"
