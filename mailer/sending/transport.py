"""Mail backends in the style of Django's: `open`, `close`, `send_messages`.

They are interchangeable: the worker holds one and never asks which. `send_messages`
reports every envelope's fate instead of raising on the first failure, because in a
batch one bad address must not hide what happened to the others.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from uuid import uuid4

from mailer.errors import (
    DeliveryError,
    PermanentDeliveryError,
    Throttled,
    TransientDeliveryError,
)
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
Admit = Callable[[Envelope], None]


class Gate:
    """One `send_messages` call's view of `admit`: once the relay itself has no slot,
    every later message is held back too, without asking again."""

    def __init__(self, admit: Admit | None) -> None:
        self._admit = admit
        self._blocked: Throttled | None = None

    @property
    def paced(self) -> bool:
        return self._admit is not None

    def check(self, envelope: Envelope) -> Throttled | None:
        if self._admit is None:
            return None
        if self._blocked is not None:
            return self._blocked
        try:
            self._admit(envelope)
        except Throttled as exc:
            if exc.scope == "relay":
                self._blocked = exc
            return exc
        return None


def report_all(results: list[SendResult], on_result: ResultHook | None) -> list[SendResult]:
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
                      admit: Admit | None = None) -> list[SendResult]:
        """Send in order; `on_result(index, result)` is called as soon as each message's
        fate is known, so a caller can record it before the next one goes out.
        `admit(envelope)` paces the sending (see Gate)."""

    def __enter__(self) -> EmailBackend:
        self.open()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class MemoryBackend(EmailBackend):
    """Keeps what it sends in `outbox`, for previews and tests of code above the transport."""

    def __init__(self) -> None:
        self.outbox: list[Envelope] = []
        self._lock = threading.Lock()

    def send_messages(self, envelopes: Sequence[Envelope], on_result: ResultHook | None = None,
                      admit: Admit | None = None) -> list[SendResult]:
        gate = Gate(admit)
        results = []
        for env in envelopes:
            held = gate.check(env)
            if held is not None:
                results.append(SendResult(env, "", held))
                continue
            with self._lock:
                self.outbox.append(env)
            results.append(SendResult(env, "250 stored in memory"))
        return report_all(results, on_result)


class FileBackend(EmailBackend):
    """Writes each message as an .eml file: what the embedded SMTP sink stores, too."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def open(self) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise TransientDeliveryError(0, f"cannot create {self.directory}: {exc}") from None

    def send_messages(self, envelopes: Sequence[Envelope], on_result: ResultHook | None = None,
                      admit: Admit | None = None) -> list[SendResult]:
        self.open()
        gate = Gate(admit)
        results = []
        for env in envelopes:
            held = gate.check(env)
            results.append(self._write(env) if held is None else SendResult(env, "", held))
        return report_all(results, on_result)

    def _write(self, env: Envelope) -> SendResult:
        path = write_eml(self.directory, env.content(), env.sender, env.recipient)
        if path is None:
            return SendResult(env, "", PermanentDeliveryError(0, "cannot write file"))
        return SendResult(env, f"250 written to {path.name}")


def write_eml(directory: Path, data: bytes, sender: str, recipient: str) -> Path | None:
    """Atomically (temp file, then rename) so a reader never sees half a message."""
    name = f"{uuid4().hex}.eml"
    tmp = directory / f".{name}.tmp"
    try:
        envelope = f"X-Envelope-From: {sender}\r\nX-Envelope-To: {recipient}\r\n".encode()
        tmp.write_bytes(envelope + data)
        final = directory / name
        tmp.replace(final)
        return final
    except OSError:
        tmp.unlink(missing_ok=True)
        return None
