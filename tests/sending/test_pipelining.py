"""PipelinedSession on its own, against real aiosmtpd servers that refuse, end the
session with 421 or drop the connection: what it returns, and what arrived."""

from __future__ import annotations

import smtplib
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from mailer.errors import PermanentDeliveryError, Throttled, TransientDeliveryError
from mailer.local.embedded import free_port
from mailer.sending import message
from mailer.sending.backends.base import SendResult, SlotCheck, WaitForSlot
from mailer.sending.pipelining import PipelinedSession, SessionOutcome
from tests.sending.backends.contract import make_envelope
from tests.support.smtp import RecordingHandler


class Relay(RecordingHandler):
    """Also counts RSETs, and drops the connection at a chosen recipient's RCPT."""

    def __init__(self, **options: bool) -> None:
        super().__init__(pipelining=True, **options)
        self.resets = 0
        self.drop_at: set[str] = set()

    async def handle_RSET(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.resets += 1
        return "250 OK"

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if address in self.drop_at:
            assert server.transport is not None
            server.transport.close()
        return await super().handle_RCPT(server, session, envelope, address, rcpt_options)


@dataclass
class Server:
    relay: Relay
    port: int

    def connect(self) -> smtplib.SMTP:
        conn = smtplib.SMTP("127.0.0.1", self.port, timeout=5)
        conn.ehlo()
        assert conn.has_extn("pipelining")
        return conn

    def run(self, to: list[str], wait_for_slot: WaitForSlot | None = None,
            reused_connection: bool = False) -> tuple[SessionOutcome, list[SendResult]]:
        conn = self.connect()
        reported: list[SendResult] = []
        outcome = PipelinedSession(conn, [make_envelope(t, t) for t in to],
                                   SlotCheck(wait_for_slot), reported.append,
                                   reused_connection).run()
        if outcome.ended is None:
            conn.quit()
        return outcome, reported

    def arrived(self) -> list[str]:
        return [r.rcpt_tos[0] for r in self.relay.received]


def serve(eightbitmime: bool = True, smtputf8: bool = True) -> Iterator[Server]:
    relay, port = Relay(eightbitmime=eightbitmime), free_port()
    controller = Controller(relay, hostname="127.0.0.1", port=port, enable_SMTPUTF8=smtputf8)
    controller.start()
    yield Server(relay, port)
    controller.stop()


@pytest.fixture
def server() -> Iterator[Server]:
    yield from serve()


@pytest.fixture
def plain_relay() -> Iterator[Server]:
    """Neither 8BITMIME nor SMTPUTF8."""
    yield from serve(eightbitmime=False, smtputf8=False)


def test_every_message_goes_and_the_results_come_back_in_order(server: Server) -> None:
    to = [f"r{i}@example.org" for i in range(5)]
    outcome, reported = server.run(to)
    assert outcome.ended is None
    assert list(outcome.results) == reported
    assert [r.envelope.recipient for r in outcome.results] == to
    assert all(r.ok and r.reply.startswith("250 ") for r in outcome.results)
    assert server.arrived() == to


def test_a_refused_rcpt_fails_its_message_resets_and_the_rest_go(server: Server) -> None:
    server.relay.refuse_rcpt["b@example.org"] = "550 5.1.1 no such user"
    server.relay.script("d@example.org", "451 4.3.0 try later")
    to = ["a@example.org", "b@example.org", "c@example.org", "d@example.org"]
    outcome, _ = server.run(to)
    assert outcome.ended is None
    assert [r.ok for r in outcome.results] == [True, False, True, False]
    refused, deferred = outcome.results[1].error, outcome.results[3].error
    assert isinstance(refused, PermanentDeliveryError) and "RCPT TO" in str(refused)
    assert isinstance(deferred, TransientDeliveryError) and "DATA" in str(deferred)
    assert server.arrived() == ["a@example.org", "c@example.org"]
    assert server.relay.resets == 1, "RSET after the MAIL the relay had accepted"


def test_a_refused_last_message_is_reset_too(server: Server) -> None:
    server.relay.refuse_rcpt["b@example.org"] = "550 5.1.1 no such user"
    outcome, _ = server.run(["a@example.org", "b@example.org"])
    assert [r.ok for r in outcome.results] == [True, False]
    assert server.relay.resets == 1


@pytest.mark.parametrize("where", ["RCPT TO", "DATA"])
def test_a_421_ends_the_session_keeping_the_relays_words(server: Server, where: str) -> None:
    reply = "421 4.4.2 too many messages in this session"
    if where == "DATA":
        server.relay.script("c@example.org", reply)
    else:
        server.relay.refuse_rcpt["c@example.org"] = reply
    outcome, reported = server.run([f"{x}@example.org" for x in "abcde"])
    assert [r.ok for r in outcome.results] == [True, True, False]
    assert reported == list(outcome.results)
    error = outcome.results[2].error
    assert outcome.ended is error
    assert isinstance(error, TransientDeliveryError) and error.code == 421
    assert "too many messages in this session" in str(error) and where in str(error)
    assert server.arrived() == ["a@example.org", "b@example.org"]


def test_a_dropped_connection_ends_the_session_and_blames_its_message(server: Server) -> None:
    server.relay.drop_at.add("b@example.org")
    outcome, _ = server.run(["a@example.org", "b@example.org", "c@example.org"])
    assert [r.ok for r in outcome.results] == [True, False]
    assert outcome.ended is outcome.results[1].error
    assert isinstance(outcome.ended, TransientDeliveryError)
    assert "connection lost" in str(outcome.ended)


def test_a_reused_connections_first_message_lost_before_data_is_not_blamed(
        server: Server) -> None:
    """A relay that dropped a connection we kept open has not seen the message: it is
    left without a result, to go again on a new connection."""
    server.relay.drop_at.add("a@example.org")
    outcome, reported = server.run(["a@example.org", "b@example.org"],
                                   reused_connection=True)
    assert outcome.results == () and reported == []
    assert isinstance(outcome.ended, TransientDeliveryError)


def test_on_a_reused_connection_a_421_at_data_is_still_blamed(server: Server) -> None:
    server.relay.script("a@example.org", "421 4.4.2 closing")
    outcome, _ = server.run(["a@example.org", "b@example.org"], reused_connection=True)
    assert len(outcome.results) == 1 and outcome.results[0].error is outcome.ended


def test_a_relay_without_8bitmime_gets_7bit(plain_relay: Server) -> None:
    outcome, _ = plain_relay.run(["a@example.org", "b@example.org"])
    assert all(r.ok for r in outcome.results)
    assert all(r.data.isascii() for r in plain_relay.relay.received)
    assert all("BODY=8BITMIME" not in r.mail_options for r in plain_relay.relay.received)


def test_a_relay_without_smtputf8_refuses_only_the_utf8_address(plain_relay: Server) -> None:
    outcome, _ = plain_relay.run(["a@example.org", "vüqar@bücher.az", "b@example.org"])
    assert [r.ok for r in outcome.results] == [True, False, True]
    error = outcome.results[1].error
    assert isinstance(error, PermanentDeliveryError) and "SMTPUTF8" in str(error)
    assert plain_relay.arrived() == ["a@example.org", "b@example.org"]


def test_paced_the_previous_message_is_finished_before_the_wait(server: Server) -> None:
    """Its end-of-data goes out before the wait for the next one's slot, so it is not
    held back by that wait."""
    arrived_when_asked: list[int] = []

    def wait_for_slot(env: message.Envelope) -> None:
        time.sleep(0.1)
        arrived_when_asked.append(len(server.relay.received))
        if env.recipient == "c@example.org":
            raise Throttled(1.0, "domain", "domain:example.org")

    outcome, _ = server.run([f"{x}@example.org" for x in "abcd"], wait_for_slot)
    assert [r.ok for r in outcome.results] == [True, True, False, True]
    assert arrived_when_asked == [0, 1, 2, 2]
