"""The share-to-a-friend flow: accept a request (producer side), build the message
(worker side). The payload between the two is plain JSON: the job id and the
normalised form fields.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any
from uuid import uuid4

from mailer.articles.stores import ArticleStore
from mailer.delivery.deliverer import Deliverer, Job, Outcome, queue_delivery
from mailer.delivery.ledger import DeliveryLedger, JobStatus, Kind
from mailer.errors import InvalidInput
from mailer.queue import SHARE_TASK, JobQueue
from mailer.render import ShareRenderer
from mailer.sending.message import Envelope, RenderedEmail, build_message
from mailer.validation import ShareRequest, validate_share


def prepare_share(fields: Mapping[str, object], *, articles: ArticleStore,
                  check_deliverability: bool = False,
                  guard: Callable[[ShareRequest], None] | None = None,
                  once: Callable[[ShareRequest, str], str | None] | None = None
                  ) -> tuple[Job, dict[str, Any] | None]:
    """Validate a share request: the job and its payload, nothing recorded yet.
    `once` (`mailer.limits.repeat_window`) may answer that the same share was accepted moments
    ago: then the job is that one and the payload None (nothing to record or send, and
    no quota spent). `guard` (flood control) sees the valid request for a known
    article, and may refuse it."""
    share = validate_share(fields, check_deliverability=check_deliverability)
    articles.check_known(share.article_id)
    job = Job(uuid4().hex, Kind.SHARE, share.friend.email, share.article_id)
    if once is not None and (first := once(share, job.id)):
        return Job(first, Kind.SHARE, share.friend.email, share.article_id), None
    if guard is not None:
        guard(share)
    return job, {"job_id": job.id, "share": share.as_fields(), "queued_at": time.time()}


def submit_share(fields: Mapping[str, object], *, articles: ArticleStore,
                 ledger: DeliveryLedger, queue: JobQueue,
                 check_deliverability: bool = False,
                 guard: Callable[[ShareRequest], None] | None = None) -> str:
    """Validate, record, enqueue; returns the job id. Once this returns, the job is the
    worker's to deliver or to record as failed: it is never dropped."""
    job, payload = prepare_share(fields, articles=articles,
                                 check_deliverability=check_deliverability, guard=guard)
    assert payload is not None  # no `once` here: the CLI means each share it is given
    queue_delivery(job, ledger=ledger, queue=queue, task=SHARE_TASK, payload=payload)
    return job.id


class ShareMail:
    """Builds share envelopes in a worker; holds the render cache, so keep one per process."""

    def __init__(self, *, articles: ArticleStore, renderer: ShareRenderer, site_name: str,
                 from_email: str, domain: str) -> None:
        self.articles = articles
        self.renderer = renderer
        self.site_name = site_name
        self.from_email = from_email
        self.domain = domain

    def deliver(self, deliverer: Deliverer, payload: Mapping[str, Any], attempt: int) -> Outcome:
        job_id = str(payload.get("job_id") or "")
        if not job_id:
            return Outcome("failed", "bad payload: no job_id")
        try:
            share = validate_share(payload.get("share") or {})
        except InvalidInput as exc:
            deliverer.ledger.mark(job_id, JobStatus.FAILED, f"bad payload: {exc}")
            return Outcome("failed", f"bad payload: {exc}")

        def build() -> Envelope:
            article = self.articles.get(share.article_id)
            rendered = self.renderer.render(article, share)
            return build_share_envelope(rendered, share, site_name=self.site_name,
                                        from_email=self.from_email, domain=self.domain)

        job = Job(job_id, Kind.SHARE, share.friend.email, share.article_id)
        return deliverer.deliver(job, attempt, build)


def build_share_envelope(rendered: RenderedEmail, share: ShareRequest, *, site_name: str,
                         from_email: str, domain: str) -> Envelope:
    """From is always the site's own address (the reader's would fail DMARC); the
    reader's name is the display name and the reader is Reply-To."""
    needs_utf8 = share.friend.smtputf8 or share.sender.smtputf8 or not from_email.isascii()
    data = build_message(
        rendered=rendered,
        from_addr=(f"{share.sender.name} via {site_name}", from_email),
        to_addr=(share.friend.name, share.friend.email),
        reply_to=(share.sender.name, share.sender.email),
        domain=domain, utf8=needs_utf8,
    )
    return Envelope(message=data, sender=from_email, recipient=share.friend.email,
                    smtputf8=needs_utf8, eightbit=True, wire_ready=True)
