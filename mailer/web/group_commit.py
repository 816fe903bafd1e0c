"""Accepting messages under load: group commit.

The requests an API process's event loop takes up in one turn are recorded in one
database transaction at the end of it, and their jobs handed to the broker together
(one round trip on Redis); then the requests are answered. On SQLite, where every
write takes the one write lock, that keeps the API's writes from queueing behind the
workers' (bench/share_load.py). As in `mailer.delivery.deliverer.queue_delivery`, a
request is answered 202 only once its row is committed and its job is with the broker.

On the event loop, not a writer thread: the thread's wake-ups and its fight with the
loop for the GIL cost a share request 450 us of CPU, three times the write itself
(measured on 2 cores). The loop waits out the write (a millisecond, or a worker's
transaction on SQLite's lock), as it would wait for requests that all need it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from mailer.delivery.deliverer import Job, hand_many_to_broker
from mailer.delivery.ledger import DeliveryLedger
from mailer.errors import ServiceUnavailable
from mailer.queue import JobQueue


@dataclass(frozen=True)
class _Entry:
    job: Job
    task: str
    payload: dict[str, Any]
    done: asyncio.Future[None]


class GroupCommit:
    def __init__(self, *, ledger: DeliveryLedger, queue: JobQueue) -> None:
        self._ledger = ledger
        self._queue = queue
        self._pending: dict[asyncio.AbstractEventLoop, list[_Entry]] = {}
        self._closed = False

    async def submit(self, job: Job, task: str, payload: dict[str, Any]) -> None:
        """Returns once the job is recorded and queued; raises ServiceUnavailable if
        the database or the broker did not take it (the row then says which)."""
        if self._closed:
            raise ServiceUnavailable("the API is shutting down")
        loop = asyncio.get_running_loop()
        entry = _Entry(job, task, payload, loop.create_future())
        pending = self._pending.get(loop)
        if pending is None:
            pending = self._pending[loop] = []
            # At the end of the next turn, not this one: the requests whose bytes
            # the loop read in this turn have run up to here by then (their tasks were
            # scheduled behind this callback). Under load the flush then takes every
            # request in flight, not one or two: four times fewer transactions and
            # publishes, a third of each request's CPU (bench/share_load.py).
            loop.call_soon(loop.call_soon, self._flush, loop)
        pending.append(entry)
        await entry.done

    def close(self) -> None:
        """New jobs are refused; those already taken up are still recorded and queued."""
        self._closed = True

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        batch = self._pending.pop(loop)
        try:
            refused = self._record_and_queue(batch)
        except Exception as exc:  # a bug: the requests fail with it rather than hang
            for entry in batch:
                _settle(entry, exc)
            raise
        for entry, why in zip(batch, refused, strict=True):
            _settle(entry, why)

    def _record_and_queue(self, batch: list[_Entry]) -> list[ServiceUnavailable | None]:
        try:
            self._ledger.create_many_now([(e.job.id, e.job.kind, e.job.recipient,
                                           e.job.reference, e.payload) for e in batch])
        except ServiceUnavailable as exc:
            return [exc] * len(batch)
        return hand_many_to_broker([(e.job.id, e.task, e.payload) for e in batch],
                                   ledger=self._ledger, queue=self._queue)


def _settle(entry: _Entry, error: Exception | None) -> None:
    if entry.done.done():  # the request was cancelled: the client went away
        return
    if error is None:
        entry.done.set_result(None)
    else:
        entry.done.set_exception(error)
