"""Accepting messages under load: group commit.

Each API process hands accepted jobs to one writer thread, which records everything
that arrived meanwhile in one database transaction and then answers the waiting
requests; the request then hands its job to the broker itself. Under load one
transaction covers a dozen requests: on SQLite, where every write takes the one write
lock, that keeps the API's writes from queueing behind the workers'
(bench/share_load.py). As in `mailer.delivery.deliverer.queue_delivery`, a request is answered
202 only once its row is committed and its job is with the broker.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from typing import Any

from mailer.delivery.deliverer import Job, hand_to_broker
from mailer.delivery.ledger import DeliveryLedger
from mailer.errors import ServiceUnavailable
from mailer.queue import JobQueue


@dataclass(frozen=True)
class _Entry:
    job: Job
    payload: dict[str, Any]
    loop: asyncio.AbstractEventLoop
    done: asyncio.Future[None]


class GroupCommit:
    def __init__(self, *, ledger: DeliveryLedger, queue: JobQueue, max_batch: int = 500) -> None:
        self._ledger = ledger
        self._queue = queue
        self._max_batch = max_batch
        self._pending: list[_Entry] = []
        self._wake = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="group-commit", daemon=True)
        self._thread.start()

    async def submit(self, job: Job, task: str, payload: dict[str, Any]) -> None:
        """Returns once the job is recorded and queued; raises ServiceUnavailable if
        the database or the broker did not take it (the row then says which)."""
        loop = asyncio.get_running_loop()
        entry = _Entry(job, payload, loop, loop.create_future())
        with self._wake:
            if self._closed:
                raise ServiceUnavailable("the API is shutting down")
            self._pending.append(entry)
            self._wake.notify()
        await entry.done
        # On the event loop: a publish is a fraction of a millisecond of CPU, and from
        # the writer thread it waited for the GIL (5 ms a publish, measured).
        hand_to_broker(job.id, ledger=self._ledger, queue=self._queue, task=task,
                       payload=payload)

    def close(self) -> None:
        with self._wake:
            self._closed = True
            self._wake.notify()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._pending and not self._closed:
                    self._wake.wait()
                if not self._pending:
                    return
                batch = self._pending[:self._max_batch]
                del self._pending[:self._max_batch]
            try:
                self._ledger.create_many_now([(e.job.id, e.job.kind, e.job.recipient,
                                           e.job.reference, e.payload) for e in batch])
            except ServiceUnavailable as exc:
                for entry in batch:
                    _settle(entry, exc)
            else:
                for entry in batch:
                    _settle(entry, None)


def _settle(entry: _Entry, error: Exception | None) -> None:
    def resolve() -> None:
        if entry.done.done():  # the request was cancelled: the client went away
            return
        if error is None:
            entry.done.set_result(None)
        else:
            entry.done.set_exception(error)

    entry.loop.call_soon_threadsafe(resolve)
