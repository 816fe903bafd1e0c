"""The relay pool on real parts: aiosmtpd servers on loopback and limits in a real Redis.
A lane of the pool keeps the backend contract."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
import redis

from mailer.config import SmtpConfig
from mailer.errors import Throttled
from mailer.limits.buckets import RedisBuckets
from mailer.limits.pacing import Lane, Pacer, PacingPolicy
from mailer.limits.parsing import Rate
from mailer.local.embedded import free_port
from mailer.local.sink import start_sink
from mailer.sending.backends.base import ResultHook, SendResult, WaitForSlot
from mailer.sending.backends.relays import Relay, RelayPool
from mailer.sending.backends.smtp import SmtpBackend
from mailer.sending.message import Envelope
from tests.sending.backends.contract import (
    BackendContract,
    Harness,
    RelayOffers,
    make_envelope,
)
from tests.support.smtp import RecordingHandler


def raw(to: str) -> Envelope:
    return Envelope(b"Subject: digest\r\n\r\nnews\r\n", "news@today.az", to, eightbit=True,
                    wire_ready=True)


@pytest.fixture
def pipelining(tmp_path: Path) -> Iterator[tuple[RecordingHandler, int]]:
    handler, port = RecordingHandler(pipelining=True), free_port()
    controller = start_sink(tmp_path, port=port, handler=handler)
    yield handler, port
    controller.stop()


def relay(port: int, rate: Rate | None = None) -> Relay:
    return Relay(f"127.0.0.1:{port}", SmtpBackend(SmtpConfig("127.0.0.1", port, timeout=5)),
                 rate)


def pacer(client: redis.Redis, **policy: object) -> Pacer:
    return Pacer(RedisBuckets(client), PacingPolicy(**policy))  # type: ignore[arg-type]


class ScriptedPacer(Pacer):
    """A pacer whose answer for every relay is the test's own `wait_for_slot` (pacing
    sees a recipient, the contract's hook an envelope to that recipient)."""

    def __init__(self, client: redis.Redis) -> None:
        super().__init__(RedisBuckets(client), PacingPolicy())
        self.wait_for_slot: WaitForSlot | None = None

    def admitter(self, relay_id: str, relay_rate: Rate | None,
                 lane: Lane) -> Callable[[str], None] | None:
        hook = self.wait_for_slot
        if hook is None:
            return None
        return lambda recipient: hook(make_envelope(recipient))


class TestRelayPool(BackendContract):
    """A lane of a pool whose one relay is the test SMTP server, paced by its pacer."""

    @pytest.fixture
    def harness(self, smtp: RecordingHandler, smtp_port: int,
                redis_client: redis.Redis) -> Iterator[Harness]:
        pacer = ScriptedPacer(redis_client)
        pool = RelayPool([relay(smtp_port)], pacer)

        def send(envelopes: Sequence[Envelope], on_result: ResultHook | None,
                 wait_for_slot: WaitForSlot | None) -> list[SendResult]:
            pacer.wait_for_slot = wait_for_slot
            return pool.lane("bulk").send_messages(envelopes, on_result=on_result)

        yield Harness(pool.lane("bulk"), lambda: [r.data for r in smtp.received],
                      RelayOffers(pipelining=False), send)
        pool.shutdown()


def test_a_lane_paces_its_own_messages(smtp_port: int) -> None:
    pool = RelayPool([relay(smtp_port)])
    with pytest.raises(ValueError, match="paces its own"):
        pool.lane("share").send_messages([raw("a@example.org")], wait_for_slot=lambda e: None)


def test_a_pipelined_batch_goes_at_the_relay_rate(
        pipelining: tuple[RecordingHandler, int], redis_client: redis.Redis) -> None:
    handler, port = pipelining
    pool = RelayPool([relay(port, Rate(20))], pacer(redis_client, share_lane_reserve=0))
    results = pool.lane("bulk").send_messages([raw(f"r{i}@example.org") for i in range(10)])
    pool.shutdown()
    assert all(r.ok for r in results)
    times = [r.at for r in handler.received]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) > 0.03, gaps
    assert times[-1] - times[0] == pytest.approx(9 / 20, abs=0.06)


def test_a_slow_domain_is_held_back_and_the_rest_go(
        pipelining: tuple[RecordingHandler, int], redis_client: redis.Redis) -> None:
    handler, port = pipelining
    pool = RelayPool([relay(port)], pacer(redis_client, domains={"slow.example": Rate(1)},
                                          bulk_max_wait=0.2))
    to = ["a@slow.example", "b@fast.example", "c@slow.example", "d@fast.example"]
    results = pool.lane("bulk").send_messages([raw(t) for t in to])
    pool.shutdown()
    held = [r.envelope.recipient for r in results if isinstance(r.error, Throttled)]
    assert held == ["c@slow.example"]
    assert [r.rcpt_tos[0] for r in handler.received] == ["a@slow.example", "b@fast.example",
                                                          "d@fast.example"]


def test_an_unreachable_relay_hands_over_to_the_next(
        pipelining: tuple[RecordingHandler, int]) -> None:
    handler, port = pipelining
    pool = RelayPool([relay(free_port()), relay(port)])
    results = pool.lane("share").send_messages([raw("a@example.org"), raw("b@example.org")])
    pool.shutdown()
    assert all(r.ok for r in results)
    assert len(handler.received) == 2


def test_the_least_busy_relay_is_used(
        pipelining: tuple[RecordingHandler, int], smtp: RecordingHandler, smtp_port: int,
        redis_client: redis.Redis) -> None:
    handler, port = pipelining
    pool = RelayPool([relay(port, Rate(2)), relay(smtp_port, Rate(2))],
                     pacer(redis_client, share_lane_reserve=0))
    for i in range(2):
        assert pool.lane("bulk").send_messages([raw(f"r{i}@example.org")])[0].ok
    pool.shutdown()
    assert (len(handler.received), len(smtp.received)) == (1, 1)


def test_an_idle_connection_is_closed(smtp: RecordingHandler, smtp_port: int) -> None:
    backend = SmtpBackend(SmtpConfig("127.0.0.1", smtp_port, timeout=5))
    pool = RelayPool([Relay("sink", backend)], idle_seconds=0.3)
    assert pool.lane("share").send_messages([raw("a@example.org")])[0].ok
    assert backend.is_open and smtp.quits == 0
    deadline = time.monotonic() + 3
    while backend.is_open and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not backend.is_open
    assert smtp.quits == 1, "closed politely with QUIT"
    assert pool.lane("share").send_messages([raw("b@example.org")])[0].ok, "and reopened"
    pool.shutdown()
