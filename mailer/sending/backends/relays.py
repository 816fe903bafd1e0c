"""The SMTP relays a worker process sends through: one kept-open connection each,
paced by the shared rate limits, closed after they sit idle.

With several relays (a pool), each call goes to the relay whose rate-limit bucket has
the earliest free slot, and to the next one if a relay cannot be reached at all.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from mailer.errors import NotAttempted, RelayUnavailable
from mailer.limits.pacing import Lane, Pacer, relay_bucket_key
from mailer.limits.parsing import Rate
from mailer.sending.backends.base import (
    EmailBackend,
    ResultHook,
    SendResult,
    WaitForSlot,
    call_hook_for_each,
)
from mailer.sending.message import Envelope
from mailer.sending.relay_health import RelayHealth


@dataclass
class Relay:
    id: str
    backend: EmailBackend
    rate: Rate | None = None
    last_used: float = 0.0


class RelayPool:
    def __init__(self, relays: Sequence[Relay], pacer: Pacer | None = None,
                 idle_seconds: float | None = None, health: RelayHealth | None = None) -> None:
        if not relays:
            raise ValueError("a relay pool needs at least one relay")
        self.relays = list(relays)
        self.pacer = pacer
        self.health = health
        self.idle_seconds = idle_seconds
        self._lock = threading.Lock()
        self._closer: threading.Thread | None = None
        self._stop = threading.Event()

    def lane(self, lane: Lane) -> EmailBackend:
        """An EmailBackend that sends through this pool in `lane`."""
        return LaneBackend(self, lane)

    def _order(self) -> list[Relay]:
        if len(self.relays) == 1 or self.pacer is None:
            return self.relays
        waits = self.pacer.buckets.peek([relay_bucket_key(r.id) for r in self.relays])
        return [r for _, _, r in sorted(zip(waits, range(len(self.relays)), self.relays,
                                            strict=True))]

    def send(self, envelopes: Sequence[Envelope], lane: Lane,
             on_result: ResultHook | None = None) -> list[SendResult]:
        self._start_closer()
        with self._lock:
            order = self._order()
            for position, relay in enumerate(order):
                last = position == len(order) - 1
                wait_for_slot: WaitForSlot | None = None
                if self.pacer is not None:
                    wait_for_slot = _by_recipient(
                        self.pacer.admitter(relay.id, relay.rate, lane))
                # Results are held back while another relay may still take the lot.
                results = relay.backend.send_messages(
                    envelopes, on_result=on_result if last else None,
                    wait_for_slot=wait_for_slot)
                relay.last_used = time.monotonic()
                self._note_health(relay, results)
                unreachable = all(isinstance(r.error, RelayUnavailable) for r in results)
                if last or not (results and unreachable):
                    return results if last else call_hook_for_each(results, on_result)
        raise AssertionError("unreachable")  # pragma: no cover

    def _note_health(self, relay: Relay, results: Sequence[SendResult]) -> None:
        if self.health is None:
            return
        refused = next((r.error for r in results if isinstance(r.error, RelayUnavailable)),
                       None)
        if refused is not None:
            self.health.mark_down(relay.id, str(refused))
        elif any(r.ok or (r.error is not None and r.error.code > 0
                          and not isinstance(r.error, NotAttempted)) for r in results):
            # It answered about a message (even a refusal of that message): it works.
            self.health.mark_up(relay.id)

    def _start_closer(self) -> None:
        if self.idle_seconds is None or self._closer is not None:
            return
        self._closer = threading.Thread(target=self._close_idle, name="smtp-idle-closer",
                                        daemon=True)
        self._closer.start()

    def _close_idle(self) -> None:
        """Relays drop idle sessions themselves, but only after minutes, holding one of
        the account's few connection slots meanwhile: close them first."""
        assert self.idle_seconds is not None
        while not self._stop.wait(max(0.05, self.idle_seconds / 4)):
            with self._lock:
                now = time.monotonic()
                for relay in self.relays:
                    if relay.last_used and now - relay.last_used >= self.idle_seconds:
                        relay.backend.close()
                        relay.last_used = 0.0

    def shutdown(self) -> None:
        """At process exit: stop the idle closer and say QUIT to every relay."""
        self._stop.set()
        self.close()

    def close(self) -> None:
        with self._lock:
            for relay in self.relays:
                relay.backend.close()
                relay.last_used = 0.0


def _by_recipient(pace: Callable[[str], None] | None) -> WaitForSlot | None:
    """Pacing asks for a message's recipient only: it sits below envelopes."""
    if pace is None:
        return None
    return lambda envelope: pace(envelope.recipient)


class LaneBackend(EmailBackend):
    def __init__(self, pool: RelayPool, lane: Lane) -> None:
        self.pool = pool
        self.lane_name = lane

    def send_messages(self, envelopes: Sequence[Envelope], on_result: ResultHook | None = None,
                      wait_for_slot: WaitForSlot | None = None) -> list[SendResult]:
        if wait_for_slot is not None:
            raise ValueError("a pool's lane paces its own messages")
        return self.pool.send(envelopes, self.lane_name, on_result)

    def close(self) -> None:
        self.pool.close()
