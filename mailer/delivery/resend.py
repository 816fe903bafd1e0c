"""Resending failed messages, each once: `mailer deliveries resend --failed`."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from mailer.delivery.ledger import DeliveryLedger, JobStatus, Kind
from mailer.errors import ServiceUnavailable
from mailer.models import utcnow
from mailer.queue import CONFIRM_TASK, SHARE_QUEUE, SHARE_TASK, JobQueue

# Every mail to one subscriber (confirmation, manage link, welcome) is the confirm
# task's: its payload's `kind` says which.
TASKS = {Kind.SHARE.value: SHARE_TASK, Kind.CONFIRM.value: CONFIRM_TASK,
         Kind.MANAGE.value: CONFIRM_TASK, Kind.WELCOME.value: CONFIRM_TASK}


def requeue_stale_messages(*, ledger: DeliveryLedger, queue: JobQueue, older_than: timedelta,
                           retry_max: timedelta) -> int:
    """The sweeper (beat, every MAILER_SWEEP_SECONDS): shares and confirmations the
    broker lost go back to the queue. A deferred message is given its longest backoff
    on top before it counts as lost. If the broker does not take them now, they stay
    queued and the next sweep tries again."""
    now = utcnow()
    found = ledger.requeue_stale(queued_before=now - older_than,
                                 deferred_before=now - older_than - retry_max)
    for row in found:
        if row.payload is not None and row.kind in TASKS:
            queue.enqueue(TASKS[row.kind], row.payload, queue=SHARE_QUEUE)
    return len(found)


class DigestBatches(Protocol):
    """What resending needs of the digest planner (mailer/digest/plan.py), which it does
    not import: digests go back as batches of their run."""

    def cancelled_runs(self) -> set[str]: ...

    def enqueue_batches(self, run_id: str, ids: Sequence[str]) -> int: ...


@dataclass(frozen=True)
class ResendReport:
    messages: int
    digests: int
    batches: int


def resend_failed(*, ledger: DeliveryLedger, queue: JobQueue, planner: DigestBatches,
                  run_id: str | None, window_hours: int) -> ResendReport:
    """Failed messages (of one digest run, or all) go back to the queue. A digest gets a
    new window from now; a share or confirmation a new retry horizon. If the broker
    stops taking jobs midway, the ones it did not take are failed again with that
    reason, so the next resend picks them up."""
    found = ledger.requeue_failed(run_id=run_id,
                                  digest_until=utcnow() + timedelta(hours=window_hours),
                                  cancelled_runs=planner.cancelled_runs())
    by_run: dict[str, list[str]] = defaultdict(list)
    messages = batches = 0
    pending = list(found)
    try:
        while pending:
            row = pending[0]
            if row.kind == Kind.DIGEST:
                by_run[row.run_id or ""].append(row.id)
            elif row.kind in TASKS and row.payload is not None:
                queue.enqueue(TASKS[row.kind], row.payload, queue=SHARE_QUEUE)
                messages += 1
            else:
                ledger.mark(row.id, JobStatus.FAILED, f"cannot resend a {row.kind!r} message")
            pending.pop(0)
        for run, ids in by_run.items():
            batches += planner.enqueue_batches(run, ids)
    except ServiceUnavailable:
        # A digest batch the broker did take finds its rows failed and skips them.
        unsent = [r.id for r in pending] + [i for ids in by_run.values() for i in ids]
        ledger.record([(i, JobStatus.FAILED, "resend not queued: the broker did not take it")
                       for i in unsent])
        raise
    return ResendReport(messages, sum(len(ids) for ids in by_run.values()), batches)
