"""The share e-mail in a worker: the job's payload (the job id and the normalised form
fields, plain JSON) checked again, the article rendered, the envelope built, and the
message handed to the deliverer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mailer.articles.stores import ArticleStore
from mailer.delivery.deliverer import Deliverer, Job, Outcome
from mailer.delivery.ledger import JobStatus, Kind
from mailer.errors import InvalidInput
from mailer.sending.message import Envelope, RenderedEmail, ReturnPath, build_message
from mailer.share.render import ShareRenderer
from mailer.share.request import ShareRequest, validate_share


class ShareMail:
    """Builds share envelopes in a worker; holds the render cache, so keep one per process."""

    def __init__(self, *, articles: ArticleStore, renderer: ShareRenderer, site_name: str,
                 from_email: str, domain: str, return_path: ReturnPath | None = None) -> None:
        self.return_path = return_path
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
            return build_share_envelope(
                rendered, share, site_name=self.site_name, from_email=self.from_email,
                domain=self.domain,
                sender=self.return_path(job_id) if self.return_path else None)

        job = Job(job_id, Kind.SHARE, share.friend.email, share.article_id)
        return deliverer.deliver(job, attempt, build)


def build_share_envelope(rendered: RenderedEmail, share: ShareRequest, *, site_name: str,
                         from_email: str, domain: str, sender: str | None = None) -> Envelope:
    """From is always the site's own address (the reader's would fail DMARC); the
    reader's name is the display name and the reader is Reply-To. `sender`: the
    envelope sender, the message's return path (default: the From address)."""
    needs_utf8 = share.friend.smtputf8 or share.sender.smtputf8 or not from_email.isascii()
    data = build_message(
        rendered=rendered,
        from_addr=(f"{share.sender.name} via {site_name}", from_email),
        to_addr=(share.friend.name, share.friend.email),
        reply_to=(share.sender.name, share.sender.email),
        domain=domain, utf8=needs_utf8,
    )
    return Envelope(message=data, sender=sender or from_email, recipient=share.friend.email,
                    smtputf8=needs_utf8, eightbit=True, wire_ready=True)
