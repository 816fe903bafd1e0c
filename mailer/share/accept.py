"""Accepting a share (the producer's side): check the request and the article, answer
the same share posted again with its first job, take the flood quotas, then record and
queue it. If recording fails, the repeat check forgets this share, so the reader's
next try goes ahead. Once `accept` returns, the job is the worker's to deliver or to
record as failed: it is never dropped.

The payload a worker gets is plain JSON: the job id, the normalised form fields and
when it was queued.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from mailer.articles.stores import ArticleStore
from mailer.delivery.deliverer import Job, queue_delivery
from mailer.delivery.ledger import DeliveryLedger, Kind
from mailer.limits.repeat_window import RepeatWindow
from mailer.models import new_id
from mailer.queue import SHARE_TASK, JobQueue
from mailer.share.guards import ShareGuards
from mailer.share.request import ShareRequest, validate_share

Payload = dict[str, Any]
Record = Callable[[Job, Payload], Awaitable[None]]


@dataclass(frozen=True)
class Accepted:
    job_id: str
    repeat: bool  # the same share was accepted moments ago: this is its job


class ShareIntake:
    def __init__(self, *, articles: ArticleStore, check_deliverability: bool = False,
                 guards: ShareGuards | None = None,
                 repeats: RepeatWindow | None = None) -> None:
        self._articles = articles
        self._deliverability = check_deliverability
        self._guards = guards
        self._repeats = repeats

    async def accept(self, fields: Mapping[str, object], record: Record, *,
                     client_ip: str, idempotency_key: str | None = None) -> Accepted:
        """`record` writes the ledger row and queues the job (the API's group commit).
        Checking runs on the event loop: it is a fraction of a millisecond of CPU,
        and threads convoying on the GIL cost more than they overlap
        (bench/share_load.py); only DNS look-ups for deliverability get a thread."""
        check = (asyncio.to_thread if self._deliverability else _now)
        share: ShareRequest = await check(self._valid, fields)
        job = _job(share)
        if self._repeats is not None:
            first = await self._repeats.earlier_job(share.as_fields(), job.id,
                                                    client_id=client_ip,
                                                    idempotency_key=idempotency_key)
            if first is not None:
                return Accepted(first, repeat=True)
        try:
            if self._guards is not None:
                self._guards.check(share, client_ip)
            await record(job, _payload(job, share))
        except BaseException:
            self._forget(share, client_ip, idempotency_key)
            raise
        return Accepted(job.id, repeat=False)

    def submit(self, fields: Mapping[str, object], *, ledger: DeliveryLedger,
               queue: JobQueue) -> str:
        """For an operator (`mailer share`): every share it is given is meant, so no
        repeat check and no flood quota; returns the job id once recorded and queued."""
        share = self._valid(fields)
        job = _job(share)
        queue_delivery(job, ledger=ledger, queue=queue, task=SHARE_TASK,
                       payload=_payload(job, share))
        return job.id

    def _valid(self, fields: Mapping[str, object]) -> ShareRequest:
        share = validate_share(fields, check_deliverability=self._deliverability)
        self._articles.check_known(share.article_id)
        return share

    def _forget(self, share: ShareRequest, client_ip: str, idempotency_key: str | None
                ) -> None:
        if self._repeats is not None:
            self._repeats.release_claim(share.as_fields(), client_id=client_ip,
                                        idempotency_key=idempotency_key)


async def _now(fn: Callable[..., ShareRequest], *args: Any) -> ShareRequest:
    return fn(*args)


def _job(share: ShareRequest) -> Job:
    return Job(new_id(), Kind.SHARE, share.friend.email, share.article_id)


def _payload(job: Job, share: ShareRequest) -> Payload:
    return {"job_id": job.id, "share": share.as_fields(), "queued_at": time.time()}
