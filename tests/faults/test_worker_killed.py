"""Fault 1: a worker is killed (SIGKILL) in the middle of a 5,000-recipient digest, and
started again by the stack's supervisor, on each broker (RabbitMQ hands the dead
worker's unacknowledged batches back as soon as its connection drops; Redis only after
its visibility timeout, so there the next planning pass queues them again). Every
subscriber gets the digest; what goes out twice is at most what the killed process
had sent but not yet recorded (MAILER_DIGEST_RECORD_EVERY replies per pool process)."""

from __future__ import annotations

import os
import signal
import time
from datetime import UTC, datetime

from mailer.delivery.ledger import JobStatus
from mailer.queue import DIGEST_PLAN_TASK, DIGEST_QUEUE
from mailer.services import make_planner
from tests.faults.conftest import FaultStack, duplicates
from worker.producer import CeleryJobQueue

READERS = 5_000
CONCURRENCY = 2
RECORD_EVERY = 20


def test_worker_killed_mid_digest(stack: FaultStack, broker_url: str) -> None:
    settings = stack.configure(broker_url=broker_url, send_lease_seconds=5,
                               digest_requeue_seconds=5, digest_batch_size=500,
                               digest_record_every=RECORD_EVERY)
    edition = stack.digest_readers(READERS)
    worker = stack.worker("digest", queues="digest", concurrency=CONCURRENCY)
    stack.supervise()  # restarts it once killed, as systemd would
    queue = CeleryJobQueue(settings)
    try:
        report = make_planner(settings, stack.stores, queue).plan(datetime.now(UTC), edition)
        assert (report.planned, report.batches) == (READERS, 10)
        deadline = time.monotonic() + 120
        while len(stack.handler.received) < READERS * 2 // 5:
            assert time.monotonic() < deadline, "the digest did not get going"
            time.sleep(0.02)
        assert worker.proc is not None
        os.killpg(worker.proc.pid, signal.SIGKILL)  # the worker and its pool, at once
        killed_after = len(stack.handler.received)
        assert killed_after < READERS, "the digest was over before the kill"
        deadline = time.monotonic() + 60
        while stack.restarts < 1:
            assert time.monotonic() < deadline, "the worker was not started again"
            time.sleep(0.1)
        time.sleep(settings.send_lease_seconds + 0.5)  # the dead worker's leases run out
        # What beat's next planning pass does: re-queue the dead worker's rows.
        queue.enqueue(DIGEST_PLAN_TASK, {"now": datetime.now(UTC).isoformat()},
                      queue=DIGEST_QUEUE)
        counts = stack.wait_final(lambda: stack.stores.ledger.run_counts(report.run_id or ""),
                                  READERS, timeout=240)
    finally:
        queue.close()
    assert counts == {JobStatus.SENT: READERS}
    per_reader = stack.per_recipient()
    assert set(per_reader) == {f"r{i}@example.org" for i in range(READERS)}, "nobody left out"
    extra = duplicates(per_reader)
    in_flight = RECORD_EVERY * CONCURRENCY
    print(f"\nworker killed after {killed_after} of {READERS} deliveries; {extra} duplicate(s); "
          f"at most {in_flight} could be in flight unrecorded")
    assert extra <= in_flight
