"""The two e-mails to a subscriber besides the confirmation: the link to the preferences
page that a reader asks for on the site ("Manage my subscriptions", `/manage`), and the
welcome after a sign-up is confirmed. Both go on the transactional lane as the
confirmation does (the confirm task; the payload's `kind` says which mail) and are
recorded in the delivery ledger as `manage` and `welcome`. `ConfirmMail` builds them.

The manage form answers the same whatever the address, and takes the same path to its
answer: for every valid address the API counts the attempt (the sign-up's own flood
guard and per-address mail cap, so the two forms share one allowance), records a
ledger row and queues a job. Only the worker looks the address up: an active
subscriber gets the link; any other address (unknown, unconfirmed, unsubscribed) gets
nothing, and the row says `skipped`. No "you have no subscription here" e-mail: the
form would then send mail to addresses that never asked us for anything, and the
answer page already says what to do when nothing comes.

A welcome's ledger id is made from the subscriber and the moment of confirmation, and
recorded only if new: a confirmation link opened twice (or by a mail scanner and then
its reader) sends one welcome; a reader who unsubscribes and signs up again gets a new
one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC

from mailer.delivery.deliverer import Job, queue_delivery
from mailer.delivery.ledger import DeliveryLedger, Kind
from mailer.errors import InvalidInput, RateLimited, ServiceUnavailable
from mailer.models import new_id
from mailer.queue import CONFIRM_TASK, SHARE_QUEUE, JobQueue
from mailer.subscriptions.model import Preferences, SectionCatalog, Subscriber, SubscriberStatus
from mailer.subscriptions.zones import zone_in_words
from mailer.validation import clean_email

MANAGE_ACCEPTED = ("If this address has a subscription here, a message with a link to "
                   "change it is on its way to it.")


def validate_address(fields: Mapping[str, object], check_deliverability: bool = False) -> str:
    email = fields.get("email", "")
    if not isinstance(email, str):
        raise InvalidInput({"email": "must be a string"})
    try:
        return clean_email(email, check_deliverability=check_deliverability)[0]
    except ValueError as exc:
        raise InvalidInput({"email": str(exc)}) from None


def request_manage_link(fields: Mapping[str, object], *, ledger: DeliveryLedger,
                        queue: JobQueue, check_deliverability: bool = False,
                        guard: Callable[[], None] | None = None,
                        mail_cap: Callable[[str], None] | None = None) -> None:
    """Queue a manage link for the address in `fields`, whoever it is (see the module's
    docstring). InvalidInput for a bad address, RateLimited when `guard` (the client's
    quota) says so, ServiceUnavailable when the database or broker is away; an address
    over `mail_cap` gets nothing, and the caller answers as ever."""
    email = validate_address(fields, check_deliverability)
    if guard is not None:
        guard()
    if mail_cap is not None:
        try:
            mail_cap(email)
        except RateLimited:
            return
    job = Job(new_id(), Kind.MANAGE, email, "")
    queue_delivery(job, ledger=ledger, queue=queue, task=CONFIRM_TASK,
                   payload={"job_id": job.id, "kind": Kind.MANAGE.value, "recipient": email})


def welcome_id(subscriber: Subscriber) -> str:
    """The ledger id of the welcome that follows this confirmation (32 hex digits, as
    every ledger id: the return path carries it)."""
    # Both databases keep microseconds: the moment reads back as it was written.
    confirmed = subscriber.confirmed_at.astimezone(UTC).isoformat() \
        if subscriber.confirmed_at else ""
    return hashlib.sha256(f"welcome:{subscriber.id}:{confirmed}".encode()).hexdigest()[:32]


def queue_welcome(subscriber: Subscriber, *, ledger: DeliveryLedger, queue: JobQueue) -> bool:
    """After a confirmation: record and queue the welcome, once. True if this call
    queued it. A broker that is away does not spoil the confirmation: the row stays
    `queued` and the sweeper (`MAILER_REQUEUE_SECONDS`) hands it over later."""
    if subscriber.status is not SubscriberStatus.ACTIVE or subscriber.confirmed_at is None:
        return False
    job_id = welcome_id(subscriber)
    payload = {"job_id": job_id, "kind": Kind.WELCOME.value, "subscriber_id": subscriber.id,
               "recipient": subscriber.email}
    if not ledger.create_once(job_id, kind=Kind.WELCOME, recipient=subscriber.email,
                              reference=subscriber.id, payload=payload):
        return False
    try:
        queue.enqueue(CONFIRM_TASK, payload, queue=SHARE_QUEUE)
    except ServiceUnavailable:
        return False
    return True


def in_words(items: Sequence[str]) -> str:
    """"Politics", "Politics and World", "Politics, Economy and World"."""
    if len(items) < 2:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"


def hour_in_words(hour: int) -> str:
    """07:00 as a reader says it: "7 in the morning", "noon", "10 at night"."""
    if hour == 0:
        return "midnight"
    if hour == 12:
        return "noon"
    twelve = hour if hour < 12 else hour - 12
    part = ("at night" if hour < 5 or hour >= 22 else "in the morning" if hour < 12
            else "in the afternoon" if hour < 18 else "in the evening")
    return f"{twelve} {part}"


def schedule(preferences: Preferences, catalog: SectionCatalog) -> dict[str, str]:
    """What a subscriber gets and when, for the e-mails that say so: the sections, the
    hour ("07:00", "7 in the morning") and the zone ("Baku time", "Asia/Baku")."""
    return {"sections_text": in_words([catalog.names.get(s, s) for s in preferences.sections]),
            "clock": f"{preferences.hour:02d}:00", "hour_words": hour_in_words(preferences.hour),
            "zone_words": zone_in_words(preferences.timezone),
            "zone": preferences.timezone}
