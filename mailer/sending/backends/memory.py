"""A backend that keeps what it sends in memory."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from mailer.sending.backends.base import (
    EmailBackend,
    ResultHook,
    SendResult,
    WaitForSlot,
    call_hook_for_each,
    send_each_unless_held,
)
from mailer.sending.message import Envelope


class MemoryBackend(EmailBackend):
    """Keeps what it sends in `outbox`, for previews and tests of code above the transport."""

    def __init__(self) -> None:
        self.outbox: list[Envelope] = []
        self._lock = threading.Lock()

    def send_messages(self, envelopes: Sequence[Envelope], on_result: ResultHook | None = None,
                      wait_for_slot: WaitForSlot | None = None) -> list[SendResult]:
        return call_hook_for_each(
            send_each_unless_held(envelopes, wait_for_slot, self._keep), on_result)

    def _keep(self, envelope: Envelope) -> SendResult:
        with self._lock:
            self.outbox.append(envelope)
        return SendResult(envelope, "250 stored in memory")
