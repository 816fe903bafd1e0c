"""One intake for everything that comes back, however it arrives (SMTP/LMTP, Postfix's
pipe, an IMAP mailbox, a provider's webhook): read the message, find which of our
messages it is about from its sealed return path, let the feedback policy decide, and
act: the ledger, the suppression list, the subscriber, and a `feedback` row each time.

Only the return path is trusted to say whose mail it was: a bounce names addresses,
and anyone can write one. The addresses a bounce names are used only to read the
status of the recipient the return path names.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path

from mailer.delivery.ledger import DeliveryLedger, JobRecord
from mailer.delivery.suppression import SuppressionStore
from mailer.errors import ExpiredToken, InvalidToken, NotFound
from mailer.inbound.classify import classify
from mailer.inbound.feedback import FeedbackEvent, FeedbackStore
from mailer.inbound.policy import Decision, TokenState, decide
from mailer.inbound.report import Classified, FailedRecipient
from mailer.models import utcnow
from mailer.sending.backends.file import write_eml
from mailer.subscriptions.model import read_unsubscribe_value
from mailer.subscriptions.store import SubscriberStore
from mailer.tokens import Purpose, ReturnPaths, Tokens

_SUBJECT_TOKEN = re.compile(r"unsubscribe\s+(\S{10,600})", re.IGNORECASE)
_ADDRESSED = ("delivered-to", "x-original-to", "envelope-to", "to")


@dataclass(frozen=True)
class SoftBounces:
    limit: int
    days: int


@dataclass(frozen=True)
class Taken:
    """What the intake made of one message: its type and, per recipient, what was done."""

    type: str
    events: tuple[FeedbackEvent, ...]
    repeat: bool = False  # taken before: nothing done again


class FeedbackIntake:
    def __init__(self, *, ledger: DeliveryLedger, suppressions: SuppressionStore,
                 subscribers: SubscriberStore, feedback: FeedbackStore, tokens: Tokens,
                 return_paths: ReturnPaths | None, unsubscribe_mailbox: str,
                 soft: SoftBounces, keep_dir: Path,
                 run_returned: Callable[[str], object] | None = None) -> None:
        """`run_returned(run_id)`: told after a hard bounce or a complaint is recorded
        against a digest run (to pause a run whose mail comes back)."""
        self._ledger = ledger
        self._suppressions = suppressions
        self._subscribers = subscribers
        self._feedback = feedback
        self._tokens = tokens
        self._return_paths = return_paths
        self._unsubscribe_mailbox = unsubscribe_mailbox
        self._soft = soft
        self._keep_dir = keep_dir
        self._run_returned = run_returned

    def take(self, raw: bytes, envelope_to: str | None = None) -> Taken:
        """Raises ServiceUnavailable when the database is away (the sender should keep
        the message and try again); anything the message itself holds is answered."""
        headers = _headers(raw)
        to = envelope_to or next((headers[h] for h in _ADDRESSED if headers.get(h)), "")
        found = classify(raw, envelope_to=to or None,
                         unsubscribe_mailbox=self._unsubscribe_mailbox)
        source = _source(headers, raw, to)

        def events() -> tuple[FeedbackEvent, ...]:
            if found.type == "unsubscribe":
                return (self._unsubscribe(headers.get("subject", ""), found),)
            if found.type == "unknown":
                return (FeedbackEvent("unknown", "missing", "kept",
                                      kept_as=self._keep(raw, to)),)
            token, record = self._whose(to)
            return self._about(found, token, record)

        return self._settle(found.type, events, source)

    def take_attested(self, found: Classified, return_path: str | None = None) -> Taken:
        """A provider's event whose signature was checked: the provider vouches for
        the recipients it names, so they are acted on without our return path; with
        one (the event's envelope sender), the message's ledger row is updated too."""

        def events() -> tuple[FeedbackEvent, ...]:
            token, record = self._whose(return_path or "")
            if record is not None:
                return self._about(found, token, record)
            return tuple(self._attested(found, said) for said in found.recipients)

        return self._settle(found.type, events, "")

    def _attested(self, found: Classified, said: FailedRecipient) -> FeedbackEvent:
        streak = 0
        if found.type == "bounce" and not said.hard and not found.blames_us:
            since = utcnow() - timedelta(days=self._soft.days)
            streak = self._feedback.soft_streak(said.address, since, "") + 1
        decision = decide(found.type, "attested", hard=said.hard, blames_us=found.blames_us,
                          status=said.status or "", diagnostic=said.diagnostic,
                          soft_streak=streak, soft_limit=self._soft.limit)
        return self._event(found, "attested", None, said, decision)

    def _whose(self, to: str) -> tuple[TokenState, JobRecord | None]:
        if self._return_paths is None or not to:
            return "missing", None
        try:
            token = self._return_paths.read(to)
        except ExpiredToken:
            return "stale", None
        except InvalidToken:
            return ("forged" if "+" in to.partition("@")[0] else "missing"), None
        record = self._ledger.get(token.message_id)
        return ("ours", record) if record is not None else ("unknown-message", None)

    def _about(self, found: Classified, token: TokenState, record: JobRecord | None
               ) -> tuple[FeedbackEvent, ...]:
        if record is None:  # acts on no one: say what it claimed, for the counts
            named = found.recipients[:1] or (FailedRecipient("", None, False),)
            return tuple(self._event(found, token, None, r, decide(found.type, token))
                         for r in named)
        said = _status_of(found, record.recipient)
        streak = 0
        if found.type == "bounce" and not said.hard and not found.blames_us:
            since = utcnow() - timedelta(days=self._soft.days)
            streak = self._feedback.soft_streak(record.recipient, since, record.id) + 1
        decision = decide(found.type, token, hard=said.hard, blames_us=found.blames_us,
                          status=said.status or "", diagnostic=said.diagnostic,
                          soft_streak=streak, soft_limit=self._soft.limit)
        return (self._event(found, token, record, said, decision),)

    def _event(self, found: Classified, token: TokenState, record: JobRecord | None,
               said: FailedRecipient, decision: Decision) -> FeedbackEvent:
        return FeedbackEvent(
            type=found.type, token=token, action=decision.action,
            address=record.recipient if record else said.address, status=said.status or "",
            hard=said.hard, diagnostic=decision.reason or said.diagnostic,
            message_id=record.id if record else None, kind=record.kind if record else "",
            run_id=record.run_id if record else None)

    def _unsubscribe(self, subject: str, found: Classified) -> FeedbackEvent:
        match = _SUBJECT_TOKEN.search(subject)
        try:
            if match is None:
                raise InvalidToken("no token")
            subscriber = self._subscribers.leave(*read_unsubscribe_value(
                self._tokens.read(Purpose.UNSUBSCRIBE, match.group(1))))
        except (InvalidToken, ExpiredToken, NotFound):
            who = found.recipients[0].address if found.recipients else ""
            return FeedbackEvent("unsubscribe", "forged", "untrusted", address=who)
        return FeedbackEvent("unsubscribe", "ours", "unsubscribed", address=subscriber.email,
                             kind="digest")

    def _settle(self, type_: str, decide_events: Callable[[], tuple[FeedbackEvent, ...]],
                source: str) -> Taken:
        """One message in one transaction, so it is taken whole or not at all and can
        be read again (a ledger on connections of its own commits first, and marking
        `bounced` twice changes nothing); then the runs are told."""
        with self._feedback.together():
            if source and self._feedback.seen(source):
                return Taken(type_, (), repeat=True)
            with self._ledger.together():
                events = tuple(replace(event, source=source) for event in decide_events())
                for event in events:
                    if event.action == "suppressed" and event.message_id:
                        self._ledger.mark_bounced(event.message_id, event.diagnostic)
            for event in events:
                self._act(event)
            self._feedback.record(events)
        if self._run_returned is not None:
            for run_id in sorted({e.run_id for e in events if e.run_id
                                  and e.action in ("suppressed", "complained")}):
                self._run_returned(run_id)
        return Taken(type_, events)

    def _act(self, event: FeedbackEvent) -> None:
        if event.action in ("suppressed", "unreachable", "complained"):
            self._suppressions.add(event.address, event.diagnostic,
                                   "complaint" if event.action == "complained" else "dsn")
        if event.action == "complained":
            self._suppressions.refuse_shares(event.address)
        if event.action == "complained" or (event.action == "unsubscribed"
                                            and event.token == "attested"):
            subscriber = self._subscribers.find(event.address)
            if subscriber is not None:
                self._subscribers.unsubscribe(subscriber.id)

    def _keep(self, raw: bytes, to: str) -> str:
        self._keep_dir.mkdir(parents=True, exist_ok=True)
        path = write_eml(self._keep_dir, raw, "", to)
        return path.name if path else ""


def _headers(raw: bytes) -> dict[str, str]:
    try:
        message = BytesHeaderParser(policy=compat32).parsebytes(raw[:256 * 1024])
        return {k.lower(): str(v).strip() for k, v in message.items()}
    except Exception:  # headers that defeat the parser: no header is trusted anyway
        return {}


def _source(headers: dict[str, str], raw: bytes, to: str) -> str:
    """The same returned message, however often it comes: its Message-ID and the
    address it came to, or (without a Message-ID) its bytes."""
    message_id = headers.get("message-id", "")
    key = f"{message_id}\0{to.lower()}".encode() if message_id else raw
    return hashlib.sha256(key).hexdigest()[:32]


def _status_of(found: Classified, recipient: str) -> FailedRecipient:
    """What the returned message says of the recipient our return path names: its own
    line if it names them, the only line if there is one, else nothing certain (soft)."""
    key = recipient.lower()
    for candidate in found.recipients:
        if candidate.address.lower() == key:
            return candidate
    if len(found.recipients) == 1:
        only = found.recipients[0]
        return FailedRecipient(key, only.status, only.hard, only.diagnostic)
    return FailedRecipient(key, None, False, "")
