"""Fault 2: the relay goes away for 30 s in the middle of a digest and comes back. The
messages it could not take are deferred and retried; in the end all are delivered,
none failed, none lost."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from mailer.delivery.ledger import JobStatus
from mailer.services import make_planner
from tests.faults.conftest import FaultStack, duplicates
from worker.producer import CeleryJobQueue

READERS = 1_500
OUTAGE_SECONDS = 30
CONCURRENCY = 2


def test_relay_down_for_30_seconds(stack: FaultStack) -> None:
    # Deferred batches come back within 1-4 s, so the outage is noticed, waited out,
    # and the rest sent soon after the relay is back.
    settings = stack.configure(digest_batch_size=100, retry_base_seconds=1,
                               retry_max_seconds=4, digest_window_hours=5)
    edition = stack.digest_readers(READERS)
    stack.handler.delay = 0.004  # a relay that takes its time: the digest is mid-way
    stack.worker("digest", queues="digest", concurrency=CONCURRENCY)
    queue = CeleryJobQueue(settings)
    try:
        report = make_planner(settings, stack.stores, queue).plan(datetime.now(UTC), edition)
        deadline = time.monotonic() + 120
        while len(stack.handler.received) < READERS // 4:
            assert time.monotonic() < deadline, "the digest did not get going"
            time.sleep(0.02)
        stack.stop_sink()
        down_at = len(stack.handler.received)
        time.sleep(OUTAGE_SECONDS)
        during = stack.stores.ledger.run_counts(report.run_id or "")
        stack.start_sink()
        counts = stack.wait_final(lambda: stack.stores.ledger.run_counts(report.run_id or ""),
                                  READERS, timeout=180)
    finally:
        queue.close()
    assert down_at < READERS, "the digest was over before the relay went away"
    assert during.get(JobStatus.DEFERRED, 0) > 0, f"nothing was deferred: {during}"
    assert counts == {JobStatus.SENT: READERS}
    per_reader = stack.per_recipient()
    assert set(per_reader) == {f"r{i}@example.org" for i in range(READERS)}
    extra = duplicates(per_reader)
    print(f"\nrelay down after {down_at} of {READERS}, for {OUTAGE_SECONDS} s; during it "
          f"{dict(during)}; {extra} duplicate(s)")
    # A message whose DATA the relay took as it went down, before we read its reply,
    # is sent again: at most one per pool process.
    assert extra <= CONCURRENCY
