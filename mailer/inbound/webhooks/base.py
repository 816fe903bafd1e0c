"""What every provider's webhook shares: the event type the intake acts on, the guard
against replays, and `receive`, the one order of work for all of them: check the
signature, refuse a replay, read the events, let the intake act.

A provider's event is believed because its signature (or Postmark's credentials) was
checked: the provider vouches for the recipients it names, so the intake acts on them
without our return path (`FeedbackIntake.take_attested`). Nothing is acted on before
`verify` has passed.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import redis

from mailer.errors import Forbidden, InvalidInput, ServiceUnavailable
from mailer.inbound.dsn import MAX_RECIPIENTS, STATUS, clean, one_line
from mailer.inbound.report import Classified, FailedRecipient, FeedbackType

JsonParser = Callable[[bytes], object]
Headers = Mapping[str, str]  # looked up by lower-case name (Starlette's are case-blind)
# How old a signed timestamp may be. Providers retry for hours after an error (SendGrid
# and SNS up to a day), and a retry may carry the first attempt's signature; a replay
# within the window is refused by the guard, which remembers a little longer.
MAX_AGE_SECONDS = 24 * 3600
MAX_SKEW_SECONDS = 300
EVENTS_PER_POST = MAX_RECIPIENTS


@dataclass(frozen=True)
class ProviderEvent:
    """One event the intake acts on: what it is, and the envelope sender (our VERP
    return path, when it is ours) or the provider's message reference if it names one."""

    found: Classified
    return_path: str | None = None
    reference: str | None = None


@dataclass(frozen=True)
class Received:
    """What one POST brought: how many events, and what was done, by action."""

    events: int
    actions: Mapping[str, int] = field(default_factory=dict)
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"events": self.events, "actions": dict(self.actions)}
        if self.note:
            body["note"] = self.note
        return body


class WebhookProvider:
    """One provider: `verify` raises Unauthorized (nothing presented) or Forbidden
    (a wrong, stale or replayed signature); `events` reads a verified body."""

    name = ""

    def __init__(self, parse: JsonParser) -> None:
        self._parse = parse  # the API's strict JSON reader (mailer/web/jsonbody.py)

    def verify(self, headers: Headers, body: bytes) -> None:
        raise NotImplementedError

    def events(self, body: bytes) -> list[ProviderEvent]:
        raise NotImplementedError

    def replay_key(self, headers: Headers, body: bytes) -> str | None:
        """What names this POST once (a token, a message id), None when nothing does."""
        return None

    def handshake(self, body: bytes) -> str | None:
        """A message for us rather than an event (SNS's subscription confirmation):
        handled, and said what was done; None for an ordinary POST."""
        return None

    def json(self, body: bytes) -> object:
        return self._parse(body)


class ReplayGuard:
    """Remembers each signed POST for longer than its signature is accepted, in Redis
    (SET NX with expiry), so a POST captured and sent again is refused everywhere."""

    def __init__(self, client: redis.Redis, ttl: int = MAX_AGE_SECONDS + 3600) -> None:
        self._client = client
        self._ttl = ttl

    def first(self, provider: str, key: str) -> bool:
        try:
            return bool(self._client.set(self._key(provider, key), b"1", nx=True, ex=self._ttl))
        except redis.RedisError as exc:
            raise ServiceUnavailable(f"cannot check webhook replays: {exc}") from exc

    def forget(self, provider: str, key: str) -> None:
        """After a failure to act: the provider's retry of the same POST is welcome."""
        with contextlib.suppress(redis.RedisError):  # else the retry is refused as a replay
            self._client.delete(self._key(provider, key))

    @staticmethod
    def _key(provider: str, key: str) -> str:
        return f"mailer:webhook:seen:{provider}:{hashlib.sha256(key.encode()).hexdigest()}"


def receive(provider: WebhookProvider, guard: ReplayGuard,
            take: Callable[[Classified, str | None], Any], headers: Headers,
            body: bytes) -> Received:
    """Verify, refuse a replay, act on each event. `take` is the intake's
    `take_attested`; it raises ServiceUnavailable when the database is away, and then
    the POST is forgotten, so the provider's retry is acted on."""
    provider.verify(headers, body)
    key = provider.replay_key(headers, body)
    if key is not None and not guard.first(provider.name, key):
        raise Forbidden("this webhook was received before: a replay is not acted on")
    try:
        note = provider.handshake(body)
        if note is not None:
            return Received(0, {}, note)
        events = provider.events(body)
        actions: Counter[str] = Counter()
        for event in events:
            taken = take(event.found, event.return_path)
            actions.update(e.action for e in taken.events)
        return Received(len(events), dict(actions))
    except BaseException:
        if key is not None:
            guard.forget(provider.name, key)
        raise


def check_age(timestamp: object, now: float | None = None) -> None:
    """A signed timestamp (seconds since the epoch) within the accepted window."""
    try:
        seconds = int(str(timestamp))
    except ValueError:
        raise Forbidden("the signature's timestamp is not a number") from None
    age = (time.time() if now is None else now) - seconds
    if age > MAX_AGE_SECONDS or age < -MAX_SKEW_SECONDS:
        raise Forbidden("the signature's timestamp is too old or in the future")


def as_dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: object) -> list[Any]:
    return value[:EVENTS_PER_POST] if isinstance(value, list) else []


def text(value: object) -> str:
    return value if isinstance(value, str) else str(value) if isinstance(value, int) else ""


def status_in(*texts: str) -> str | None:
    """The first enhanced status code (5.1.1) in the texts, as the DSN reader finds it."""
    for candidate in texts:
        found = STATUS.search(candidate)
        if found:
            return ".".join(found.groups())
    return None


def single(kind: FeedbackType, address: object, *, hard: bool = False,
           status: str | None = None, diagnostic: str = "", blames_us: bool = False,
           return_path: str | None = None, reference: str | None = None
           ) -> list[ProviderEvent]:
    """The event for one named recipient; none when no address is named."""
    who = clean(text(address))
    if "@" not in who:
        return []
    said = FailedRecipient(who, status, hard, one_line(diagnostic))
    return [ProviderEvent(Classified(kind, (said,), None, blames_us=blames_us),
                          return_path or None, reference or None)]


def body_object(provider: WebhookProvider, body: bytes) -> dict[str, Any]:
    data = provider.json(body)
    if not isinstance(data, dict):
        raise InvalidInput({"body": "must be a JSON object"})
    return data
