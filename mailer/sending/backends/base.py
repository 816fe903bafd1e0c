"""The contract every mail backend keeps, in the style of Django's: `open`, `close`,
`send_messages`.

Backends are interchangeable: the worker holds one and never asks which. `send_messages`
reports every envelope's fate instead of raising on the first failure, because in a
batch one bad address must not hide what happened to the others.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType

from mailer.errors import DeliveryError, Throttled
from mailer.sending.message import Envelope


@dataclass(frozen=True)
class SendResult:
    envelope: Envelope
    reply: str
    error: DeliveryError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


ResultHook = Callable[[int, "SendResult"], None]
# Called just before each message goes out: returns once it may go (after waiting for
# a send slot), or raises Throttled to hold that message back.
WaitForSlot = Callable[[Envelope], None]


class SlotCheck:
    """One `send_messages` call's view of `wait_for_slot`: once the relay itself has no
    slot, every later message is held back too, without asking again."""

    def __init__(self, wait_for_slot: WaitForSlot | None) -> None:
        self._wait_for_slot = wait_for_slot
        self._relay_full: Throttled | None = None

    @property
    def paced(self) -> bool:
        return self._wait_for_slot is not None

    def throttled(self, envelope: Envelope) -> Throttled | None:
        """Waits for `envelope`'s send slot; the Throttled that holds it back, if any."""
        if self._wait_for_slot is None:
            return None
        if self._relay_full is not None:
            return self._relay_full
        try:
            self._wait_for_slot(envelope)
        except Throttled as exc:
            if exc.scope == "relay":
                self._relay_full = exc
            return exc
        return None


def send_each_unless_held(envelopes: Sequence[Envelope], wait_for_slot: WaitForSlot | None,
                          send_one: Callable[[Envelope], SendResult]) -> list[SendResult]:
    """For backends that send one message at a time where they are: each envelope that
    gets a send slot goes to `send_one`; the others are held back with the reason."""
    slots = SlotCheck(wait_for_slot)
    results = []
    for envelope in envelopes:
        held = slots.throttled(envelope)
        results.append(send_one(envelope) if held is None else SendResult(envelope, "", held))
    return results


def call_hook_for_each(results: list[SendResult],
                       on_result: ResultHook | None) -> list[SendResult]:
    """For a backend that learns its results all at once: the hook still sees each."""
    if on_result is not None:
        for index, result in enumerate(results):
            on_result(index, result)
    return results


class EmailBackend(ABC):
    def open(self) -> None:  # noqa: B027 - most backends have nothing to open
        """Get ready to send; may be called when already open."""

    def close(self) -> None:  # noqa: B027
        """Release what `open` took; safe to call twice."""

    @abstractmethod
    def send_messages(self, envelopes: Sequence[Envelope], on_result: ResultHook | None = None,
                      wait_for_slot: WaitForSlot | None = None) -> list[SendResult]:
        """Send in order; `on_result(index, result)` is called as soon as each message's
        fate is known, so a caller can record it before the next one goes out.
        `wait_for_slot(envelope)` paces the sending (see SlotCheck)."""

    def __enter__(self) -> EmailBackend:
        self.open()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
