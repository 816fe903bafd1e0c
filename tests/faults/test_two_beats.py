"""Fault 5: two beat processes run by mistake, each planning the digest every 3 s, and
two worker processes run the planning passes side by side. Still one digest per
subscriber: planning inserts at most one row per (edition, subscriber)."""

from __future__ import annotations

import time

from mailer.delivery.ledger import JobStatus
from tests.faults.conftest import FaultStack

READERS = 300


def test_two_beats_one_digest_each(stack: FaultStack) -> None:
    stack.configure(digest_plan_minutes=0.05, digest_batch_size=50)
    stack.digest_readers(READERS)
    stack.worker("worker", queues="digest", concurrency=2)
    stack.beat("beat-a")
    stack.beat("beat-b")
    deadline = time.monotonic() + 60
    while len(stack.handler.received) < READERS:
        assert time.monotonic() < deadline, f"{len(stack.handler.received)} of {READERS}"
        time.sleep(0.2)
    time.sleep(7)  # two more planning passes from each beat: nothing new may go out
    passes = sum((stack.tmp / f"{name}.log").read_text().count("mailer.digest.plan")
                 for name in ("beat-a", "beat-b"))
    counts = stack.stores.ledger.kind_counts("digest")
    per_reader = stack.per_recipient()
    print(f"\n{passes} planning passes sent by two beats; {sum(per_reader.values())} digests "
          f"for {READERS} subscribers")
    assert passes >= 6, "both beats planned, several times"
    assert counts == {JobStatus.SENT: READERS}
    assert set(per_reader) == {f"r{i}@example.org" for i in range(READERS)}
    assert set(per_reader.values()) == {1}
