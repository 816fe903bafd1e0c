"""A backend that writes each message as an .eml file."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path
from uuid import uuid4

from mailer.errors import PermanentDeliveryError, TransientDeliveryError
from mailer.sending.backends.base import (
    EmailBackend,
    ResultHook,
    SendResult,
    WaitForSlot,
    call_hook_for_each,
    send_each_unless_held,
)
from mailer.sending.message import Envelope


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
                      wait_for_slot: WaitForSlot | None = None) -> list[SendResult]:
        self.open()
        return call_hook_for_each(
            send_each_unless_held(envelopes, wait_for_slot, self._write), on_result)

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
        with contextlib.suppress(OSError):  # the directory itself may be what is gone
            tmp.unlink(missing_ok=True)
        return None
