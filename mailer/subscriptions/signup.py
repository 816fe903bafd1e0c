"""The subscription flow: sign-up with double opt-in, and the confirmation e-mail.

The sign-up answers the same whatever the address's state, so the form tells nobody
who is subscribed; what differs is only the e-mail that goes to the address itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any
from uuid import uuid4

from mailer.delivery.deliverer import Deliverer, Job, Outcome, queue_delivery
from mailer.delivery.ledger import DeliveryLedger, Kind
from mailer.errors import NotFound, RateLimited
from mailer.queue import CONFIRM_TASK, JobQueue
from mailer.render import TemplateMail
from mailer.sending.message import Envelope, ReturnPath, build_message
from mailer.subscriptions.model import (
    Preferences,
    SectionCatalog,
    SubscriberStatus,
    validate_signup,
)
from mailer.subscriptions.store import SubscriberStore
from mailer.tokens import Purpose, Tokens


def submit_signup(fields: Mapping[str, object], *, catalog: SectionCatalog,
                  default: Preferences, store: SubscriberStore, ledger: DeliveryLedger,
                  queue: JobQueue, resend_after: timedelta,
                  check_deliverability: bool = False,
                  guard: Callable[[], None] | None = None,
                  mail_cap: Callable[[str], None] | None = None,
                  offered: Mapping[str, Sequence[str]] | None = None) -> None:
    """`offered`: the newsletters besides the daily digest, with their sections.
    `mail_cap(address)` raises RateLimited when the address has had its sign-up
    e-mails for the day: then none goes, and the answer is the same as ever, so the
    form still tells nobody anything about the address."""
    signup = validate_signup(fields, catalog, default=default,
                             check_deliverability=check_deliverability, offered=offered)
    if guard is not None:
        guard()
    subscriber, send = store.sign_up(signup, resend_after)
    if not send:
        return
    if mail_cap is not None:
        try:
            mail_cap(subscriber.email)
        except RateLimited:
            return
    job = Job(uuid4().hex, Kind.CONFIRM, subscriber.email, subscriber.id)
    queue_delivery(job, ledger=ledger, queue=queue, task=CONFIRM_TASK,
                   payload={"job_id": job.id, "subscriber_id": subscriber.id,
                            "recipient": subscriber.email})


def links(tokens: Tokens, public_url: str, subscriber_id: str) -> dict[str, str]:
    return {purpose.value: f"{public_url}/{purpose.value}/{tokens.make(purpose, subscriber_id)}"
            for purpose in (Purpose.CONFIRM, Purpose.UNSUBSCRIBE, Purpose.PREFERENCES)}


class ConfirmMail:
    """Builds the e-mail a sign-up triggers: a confirmation link for a pending address,
    a "you are already subscribed" note with the preferences link for an active one."""

    def __init__(self, *, store: SubscriberStore, tokens: Tokens, mail: TemplateMail,
                 catalog: SectionCatalog, public_url: str, site_name: str, from_email: str,
                 domain: str, confirm_hours: int, return_path: ReturnPath | None = None,
                 describe: Callable[[Preferences], list[str]] | None = None) -> None:
        """`describe`: a reader's choices in words, a line a newsletter
        (NewsletterOffer.describe); without it, the daily digest's sections."""
        self.return_path = return_path
        self.describe = describe
        self.store = store
        self.tokens = tokens
        self.mail = mail
        self.catalog = catalog
        self.public_url = public_url
        self.site_name = site_name
        self.from_email = from_email
        self.domain = domain
        self.confirm_hours = confirm_hours

    def deliver(self, deliverer: Deliverer, payload: Mapping[str, Any], attempt: int) -> Outcome:
        job_id = str(payload.get("job_id") or "")
        subscriber_id = str(payload.get("subscriber_id") or "")
        if not job_id or not subscriber_id:
            return Outcome("failed", "bad payload: no job_id or subscriber_id")

        def build() -> Envelope:
            return self.build(subscriber_id, job_id)

        # The recipient travels in the payload, so suppression is checked against the
        # address before anything is built; a job queued by an older version has none.
        recipient = str(payload.get("recipient") or "")
        if not recipient:
            try:
                recipient = self.store.get(subscriber_id).email
            except NotFound:
                recipient = ""  # build() records the message as failed
        job = Job(job_id, Kind.CONFIRM, recipient, subscriber_id)
        return deliverer.deliver(job, attempt, build)

    def build(self, subscriber_id: str, message_id: str | None = None) -> Envelope:
        """`message_id` (the ledger's) names the message in its return path."""
        subscriber = self.store.get(subscriber_id)
        context = {
            "name": subscriber.name,
            "sections": [self.catalog.names.get(s, s) for s in subscriber.preferences.sections],
            "choices": self.describe(subscriber.preferences) if self.describe else [],
            "hour": subscriber.preferences.hour, "timezone": subscriber.preferences.timezone,
            "links": links(self.tokens, self.public_url, subscriber.id),
            "confirm_hours": self.confirm_hours,
        }
        if subscriber.status is SubscriberStatus.PENDING:
            rendered = self.mail.render("confirm", f"Confirm your subscription to "
                                        f"{self.site_name}", **context)
        elif subscriber.status is SubscriberStatus.ACTIVE:
            rendered = self.mail.render("subscribed", f"You are already subscribed to "
                                        f"{self.site_name}", **context)
        else:
            raise NotFound("nothing to send: the address unsubscribed before this went out")
        message = build_message(
            rendered=rendered, from_addr=(self.site_name, self.from_email),
            to_addr=(subscriber.name, subscriber.email), reply_to=None, domain=self.domain,
            utf8=not subscriber.email.isascii())
        sender = self.return_path(message_id) if self.return_path and message_id \
            else self.from_email
        return Envelope(message, sender, subscriber.email,
                        smtputf8=not subscriber.email.isascii(), eightbit=True,
                        wire_ready=True)
