"""The subscription flow: sign-up with double opt-in, and the confirmation e-mail.

The sign-up answers the same whatever the address's state, so the form tells nobody
who is subscribed; what differs is only the e-mail that goes to the address itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any

from mailer.delivery.deliverer import Deliverer, Job, Outcome, queue_delivery
from mailer.delivery.ledger import DeliveryLedger, Kind
from mailer.errors import NotFound, NothingToSend, RateLimited
from mailer.models import new_id
from mailer.queue import CONFIRM_TASK, JobQueue
from mailer.render import TemplateMail
from mailer.sending.message import Envelope, RenderedEmail, ReturnPath, build_message
from mailer.subscriptions.model import (
    Preferences,
    SectionCatalog,
    Subscriber,
    SubscriberStatus,
    validate_signup,
)
from mailer.subscriptions.notices import schedule
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
    job = Job(new_id(), Kind.CONFIRM, subscriber.email, subscriber.id)
    queue_delivery(job, ledger=ledger, queue=queue, task=CONFIRM_TASK,
                   payload={"job_id": job.id, "subscriber_id": subscriber.id,
                            "recipient": subscriber.email})


def links(tokens: Tokens, public_url: str, subscriber_id: str) -> dict[str, str]:
    return {purpose.value: f"{public_url}/{purpose.value}/{tokens.make(purpose, subscriber_id)}"
            for purpose in (Purpose.CONFIRM, Purpose.UNSUBSCRIBE, Purpose.PREFERENCES)}


class ConfirmMail:
    """Builds every e-mail to one subscriber that goes on the transactional lane (the
    confirm task; the payload's `kind` says which): the confirmation of a sign-up, or
    an "already subscribed" note with the preferences link for an active address; the
    link to the preferences page asked for on the site (`manage`); the welcome once a
    sign-up is confirmed (mailer/subscriptions/notices.py)."""

    def __init__(self, *, store: SubscriberStore, tokens: Tokens, mail: TemplateMail,
                 catalog: SectionCatalog, public_url: str, site_name: str, from_email: str,
                 domain: str, confirm_hours: int, return_path: ReturnPath | None = None,
                 manage_hours: int = 24,
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
        self.manage_hours = manage_hours

    def deliver(self, deliverer: Deliverer, payload: Mapping[str, Any], attempt: int) -> Outcome:
        """A manage job names only its address (`recipient`): the build looks it up.
        The others name their subscriber; a job queued by an older version has no
        `kind` (a confirmation) and may have no `recipient`."""
        job_id = str(payload.get("job_id") or "")
        kind = str(payload.get("kind") or Kind.CONFIRM.value)
        subscriber_id = str(payload.get("subscriber_id") or "")
        recipient = str(payload.get("recipient") or "")
        builders = {Kind.CONFIRM.value: self.build, Kind.WELCOME.value: self.build_welcome,
                    Kind.MANAGE.value: self.build_manage}
        if kind not in builders:
            return Outcome("failed", f"bad payload: no such kind {kind!r}")
        named = recipient if kind == Kind.MANAGE else subscriber_id
        if not job_id or not named:
            return Outcome("failed", "bad payload: no job_id, or no subscriber_id or "
                                     "recipient")

        def build() -> Envelope:
            return builders[kind](named, job_id)

        # The recipient travels in the payload, so suppression is checked against the
        # address before anything is built.
        if not recipient:
            try:
                recipient = self.store.get(subscriber_id).email
            except NotFound:
                recipient = ""  # build() records the message as failed
        return deliverer.deliver(Job(job_id, kind, recipient, subscriber_id), attempt, build)

    def context(self, subscriber: Subscriber) -> dict[str, Any]:
        return {"name": subscriber.name,
                "sections": [self.catalog.names.get(s, s)
                             for s in subscriber.preferences.sections],
                "hour": subscriber.preferences.hour,
                "timezone": subscriber.preferences.timezone,
                "links": links(self.tokens, self.public_url, subscriber.id),
                "confirm_hours": self.confirm_hours,
                "choices": self.describe(subscriber.preferences) if self.describe else [],
                **schedule(subscriber.preferences, self.catalog)}

    def build(self, subscriber_id: str, message_id: str | None = None) -> Envelope:
        """`message_id` (the ledger's) names the message in its return path."""
        subscriber = self.store.get(subscriber_id)
        if subscriber.status is SubscriberStatus.PENDING:
            rendered = self.mail.render("confirm", f"Confirm your subscription to "
                                        f"{self.site_name}", **self.context(subscriber))
        elif subscriber.status is SubscriberStatus.ACTIVE:
            rendered = self.mail.render("subscribed", f"You are already subscribed to "
                                        f"{self.site_name}", **self.context(subscriber))
        else:
            raise NotFound("nothing to send: the address unsubscribed before this went out")
        return self.envelope(subscriber, rendered, message_id)

    def build_welcome(self, subscriber_id: str, message_id: str | None = None) -> Envelope:
        subscriber = self.store.get(subscriber_id)
        if subscriber.status is not SubscriberStatus.ACTIVE:
            raise NothingToSend("no welcome: the address unsubscribed before it went out")
        rendered = self.mail.render("welcome", f"Welcome to {self.site_name}: your "
                                    "subscription is confirmed",
                                    **self.context(subscriber))
        return self.envelope(subscriber, rendered, message_id)

    def build_manage(self, address: str, message_id: str | None = None) -> Envelope:
        """To the subscriber's address as we have it (the one confirmed), which the
        address typed matches but for case."""
        subscriber = self.store.find(address)
        if subscriber is None or subscriber.status is not SubscriberStatus.ACTIVE:
            raise NothingToSend("no manage link: no active subscription at this address")
        manage_url = (f"{self.public_url}/{Purpose.PREFERENCES.value}/"
                      f"{self.tokens.make(Purpose.MANAGE, subscriber.id)}")
        rendered = self.mail.render("manage", f"Your link to change your {self.site_name} "
                                    "subscriptions", manage_url=manage_url,
                                    manage_hours=self.manage_hours, **self.context(subscriber))
        return self.envelope(subscriber, rendered, message_id)

    def envelope(self, subscriber: Subscriber, rendered: RenderedEmail,
                 message_id: str | None) -> Envelope:
        message = build_message(
            rendered=rendered, from_addr=(self.site_name, self.from_email),
            to_addr=(subscriber.name, subscriber.email), reply_to=None, domain=self.domain,
            utf8=not subscriber.email.isascii())
        sender = self.return_path(message_id) if self.return_path and message_id \
            else self.from_email
        return Envelope(message, sender, subscriber.email,
                        smtputf8=not subscriber.email.isascii(), eightbit=True,
                        wire_ready=True)
