"""A backend that keeps what it sends in memory."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from mailer.sending.backends.base import (
    EmailBackend,
    ResultHook,
    SendResult,
    SlotCheck,
    WaitForSlot,
    call_hook_for_each,
)
from mailer.sending.message import Envelope


class MemoryBackend(EmailBackend):
    """Keeps what it sends in `outbox`, for previews and tests of code above the transport."""

    def __init__(self) -> None:
        self.outbox: list[Envelope] = []
        self._lock = threading.Lock()

    def send_messages(self, envelopes: Sequence[Envelope], on_result: ResultHook | None = None,
                      wait_for_slot: WaitForSlot | None = None) -> list[SendResult]:
        slots = SlotCheck(wait_for_slot)
        results = []
        for env in envelopes:
            held = slots.throttled(env)
            if held is not None:
                results.append(SendResult(env, "", held))
                continue
            with self._lock:
                self.outbox.append(env)
            results.append(SendResult(env, "250 stored in memory"))
        return call_hook_for_each(results, on_result)
