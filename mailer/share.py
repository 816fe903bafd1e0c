"""The share-to-a-friend flow: accept a request (producer side), deliver it (worker side).

The payload between the two is plain JSON: the job id and the normalised form fields.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from uuid import uuid4

from mailer.articles import ArticleStore
from mailer.errors import InvalidInput, ServiceUnavailable, TransientDeliveryError, UnknownArticle
from mailer.jobs import Claim, JobLedger, JobStatus
from mailer.message import build_share_envelope
from mailer.queue import SHARE_QUEUE, SHARE_TASK, JobQueue
from mailer.render import ShareRenderer
from mailer.retry import backoff_delay
from mailer.transport import EmailBackend
from mailer.validation import ShareRequest, validate_share

KIND = "share"


def submit_share(fields: Mapping[str, object], *, articles: ArticleStore, ledger: JobLedger,
                 queue: JobQueue, check_deliverability: bool = False) -> str:
    """Validate, record, enqueue; returns the job id. Once this returns, the job is the
    worker's to deliver or to record as failed: it is never dropped."""
    share = validate_share(fields, check_deliverability=check_deliverability)
    articles.get(share.article_id)
    job_id = uuid4().hex
    ledger.create(job_id, kind=KIND, recipient=share.friend.email, reference=share.article_id)
    payload = {"job_id": job_id, "share": share.as_fields(), "queued_at": time.time()}
    try:
        queue.enqueue(SHARE_TASK, payload, queue=SHARE_QUEUE)
    except ServiceUnavailable:
        ledger.mark(job_id, JobStatus.FAILED, "not queued: the broker did not take the job")
        raise
    return job_id


@dataclass(frozen=True)
class Outcome:
    action: Literal["sent", "skipped", "retry", "failed"]
    reply: str = ""
    delay: float = 0.0


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int
    base_seconds: float
    max_seconds: float


class ShareDelivery:
    """Everything a worker process needs to deliver shares; build one per process."""

    def __init__(self, *, articles: ArticleStore, ledger: JobLedger, renderer: ShareRenderer,
                 backend: EmailBackend, retry: RetryPolicy, lease_seconds: float,
                 site_name: str, from_email: str, domain: str) -> None:
        self.articles = articles
        self.ledger = ledger
        self.renderer = renderer
        self.backend = backend
        self.retry = retry
        self.lease_seconds = lease_seconds
        self.site_name = site_name
        self.from_email = from_email
        self.domain = domain

    def deliver(self, payload: Mapping[str, Any], attempt: int) -> Outcome:
        """`attempt` counts from 1. Raises ServiceUnavailable when Redis is away; the
        caller should try the whole task again later."""
        job_id = str(payload.get("job_id") or "")
        if not job_id:
            return Outcome("failed", "bad payload: no job_id")
        try:
            share = validate_share(payload.get("share") or {})
        except InvalidInput as exc:
            if job_id:
                self.ledger.mark(job_id, JobStatus.FAILED, f"bad payload: {exc}")
            return Outcome("failed", f"bad payload: {exc}")
        claim, wait = self.ledger.claim(job_id, self.lease_seconds, kind=KIND,
                                        recipient=share.friend.email, reference=share.article_id)
        if claim is Claim.DONE:
            return Outcome("skipped", "already delivered or failed")
        if claim is Claim.BUSY:
            return Outcome("retry", "another worker is sending it", delay=wait + 1)
        try:
            return self._send(job_id, share, attempt)
        except ServiceUnavailable:
            raise
        except Exception as exc:
            # A bug must not leave the job looking in flight for ever: record it, then
            # let the worker log the traceback.
            self.ledger.mark(job_id, JobStatus.FAILED, f"internal error: {type(exc).__name__}")
            raise

    def _send(self, job_id: str, share: ShareRequest, attempt: int) -> Outcome:
        try:
            article = self.articles.get(share.article_id)
        except UnknownArticle as exc:
            self.ledger.mark(job_id, JobStatus.FAILED, str(exc))
            return Outcome("failed", str(exc))
        rendered = self.renderer.render(article, share)
        envelope = build_share_envelope(rendered, share, site_name=self.site_name,
                                        from_email=self.from_email, domain=self.domain)
        result = self.backend.send_messages([envelope])[0]
        if result.ok:
            self.ledger.mark(job_id, JobStatus.SENT, result.reply)
            return Outcome("sent", result.reply)
        error = result.error
        assert error is not None
        reply = str(error)

        if isinstance(error, TransientDeliveryError) and attempt < self.retry.max_attempts:
            self.ledger.mark(job_id, JobStatus.DEFERRED, reply)
            delay = backoff_delay(attempt, base=self.retry.base_seconds,
                                  cap=self.retry.max_seconds)
            return Outcome("retry", reply, delay=delay)
        self.ledger.mark(job_id, JobStatus.FAILED, reply)
        return Outcome("failed", reply)
