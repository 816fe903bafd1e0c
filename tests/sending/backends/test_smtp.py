"""The SMTP backend keeps the contract against real relays (aiosmtpd on loopback, with
and without 8BITMIME, PIPELINING and SMTPUTF8), then its own cases."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from mailer.config import SmtpConfig
from mailer.errors import (
    PermanentDeliveryError,
    RelayRefused,
    TransientDeliveryError,
)
from mailer.local.embedded import free_port
from mailer.sending.backends.base import SendResult
from mailer.sending.backends.smtp import SmtpBackend
from mailer.sending.message import Envelope
from tests.sending.backends.contract import (
    BackendContract,
    Harness,
    RelayOffers,
    make_envelope,
)
from tests.support.smtp import RecordingHandler

# The relays the SMTP backend meets: what each offers in its EHLO.
RELAYS = {"smtp": RelayOffers(True, False, True), "smtp-pipelining": RelayOffers(True, True, True),
          "smtp-7bit": RelayOffers(False, False, False),
          "smtp-7bit-pipelining": RelayOffers(False, True, True)}


class TestSmtpBackend(BackendContract):
    @pytest.fixture(params=list(RELAYS))
    def harness(self, request: pytest.FixtureRequest) -> Iterator[Harness]:
        offers = RELAYS[request.param]
        relay = RecordingHandler(pipelining=offers.pipelining,
                                 eightbitmime=offers.eightbitmime)
        port = free_port()
        controller = Controller(relay, hostname="127.0.0.1", port=port,
                                enable_SMTPUTF8=offers.smtputf8)
        controller.start()
        smtp = SmtpBackend(SmtpConfig("127.0.0.1", port, timeout=5))
        yield Harness(smtp, lambda: [r.data for r in relay.received], offers)
        smtp.close()
        controller.stop()


@pytest.mark.parametrize("pipelining", [False, True])
def test_the_hook_hears_each_result_before_the_next_message_goes(pipelining: bool) -> None:
    """So a caller records a message's fate before the relay has the next one."""
    handler, port = RecordingHandler(pipelining=pipelining), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    arrived: list[int] = []

    def hook(index: int, result: SendResult) -> None:
        arrived.append(len(handler.received))

    try:
        backend = smtp_backend(port)
        results = backend.send_messages([make_envelope(f"r{i}@example.org") for i in range(4)],
                                        on_result=hook)
        backend.close()
    finally:
        controller.stop()
    assert all(r.ok for r in results)
    assert arrived == [1, 2, 3, 4]


def smtp_backend(port: int, **options: object) -> SmtpBackend:
    return SmtpBackend(SmtpConfig("127.0.0.1", port, timeout=5, **options))  # type: ignore[arg-type]


def test_one_connection_for_many_messages(smtp: RecordingHandler, smtp_port: int) -> None:
    backend = smtp_backend(smtp_port)
    backend.send_messages([make_envelope()])
    first = backend._conn
    backend.send_messages([make_envelope(), make_envelope()])
    assert backend._conn is first and first is not None
    backend.close()
    assert len(smtp.received) == 3


@pytest.mark.parametrize(("reply", "kind"), [
    ("451 4.3.0 Try again later", TransientDeliveryError),
    ("421 4.7.0 Too many connections", TransientDeliveryError),
    ("550 5.1.1 No such user", PermanentDeliveryError),
    ("554 5.7.1 Rejected as spam", PermanentDeliveryError),
])
def test_replies_are_classified(smtp: RecordingHandler, smtp_port: int, reply: str,
                                kind: type) -> None:
    smtp.script("bad@example.org", reply)
    backend = smtp_backend(smtp_port)
    results = backend.send_messages([make_envelope("bad@example.org"), make_envelope()])
    backend.close()
    assert isinstance(results[0].error, kind)
    assert results[0].error.code == int(reply[:3])
    assert reply[4:] in results[0].error.reply
    assert results[1].ok, "a refused message must not stop the rest of the batch"
    assert [r.rcpt_tos for r in smtp.received] == [("bob@example.org",)]


def test_refused_connection_is_transient() -> None:
    results = smtp_backend(free_port()).send_messages([make_envelope(), make_envelope()])
    assert all(isinstance(r.error, TransientDeliveryError) for r in results)
    assert "cannot connect" in str(results[0].error)


def test_relay_without_smtputf8_refuses_utf8_address_permanently() -> None:
    handler, port = RecordingHandler(), free_port()
    plain = Controller(handler, hostname="127.0.0.1", port=port, enable_SMTPUTF8=False)
    plain.start()
    try:
        backend = smtp_backend(port)
        result = backend.send_messages([make_envelope("vüqar@bücher.az")])[0]
        backend.close()
    finally:
        plain.stop()
    assert isinstance(result.error, PermanentDeliveryError)
    assert "SMTPUTF8" in str(result.error)


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, str]:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_ctx)
    cafile = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(cafile))
    return server_ctx, str(cafile)


def _authenticator(server, session, envelope, mechanism, auth_data):  # type: ignore[no-untyped-def]
    ok = isinstance(auth_data, LoginPassword) and auth_data == (b"relay-user", b"s3cret")
    return AuthResult(success=ok, handled=False)


def test_starttls_with_auth(tls_files: tuple[ssl.SSLContext, str]) -> None:
    server_ctx, cafile = tls_files
    handler, port = RecordingHandler(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, tls_context=server_ctx,
                            require_starttls=True, authenticator=_authenticator,
                            auth_require_tls=True)
    controller.start()
    try:
        good = smtp_backend(port, security="starttls", username="relay-user", password="s3cret",
                            cafile=cafile)
        assert good.send_messages([make_envelope()])[0].ok
        good.close()
        wrong = smtp_backend(port, security="starttls", username="relay-user",
                             password="nope", cafile=cafile)
        result = wrong.send_messages([make_envelope()])[0]
        plain = smtp_backend(port).send_messages([make_envelope()])[0]
    finally:
        controller.stop()
    assert len(handler.received) == 1
    assert isinstance(result.error, TransientDeliveryError) and result.error.code == 535
    # Our configuration, not the message: it waits, and the relay is to blame.
    assert isinstance(plain.error, RelayRefused), "STARTTLS required by the server"


def test_implicit_tls(tls_files: tuple[ssl.SSLContext, str]) -> None:
    server_ctx, cafile = tls_files
    handler, port = RecordingHandler(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, ssl_context=server_ctx)
    controller.start()
    try:
        backend = smtp_backend(port, security="tls", cafile=cafile)
        assert backend.send_messages([make_envelope()])[0].ok
        backend.close()
        untrusted = smtp_backend(port, security="tls").send_messages([make_envelope()])[0]
    finally:
        controller.stop()
    assert len(handler.received) == 1
    assert isinstance(untrusted.error, TransientDeliveryError)
    assert "CERTIFICATE_VERIFY_FAILED" in str(untrusted.error)


def test_server_that_stops_answering_times_out() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        backend = SmtpBackend(SmtpConfig("127.0.0.1", silent.getsockname()[1], timeout=0.5))
        result = backend.send_messages([make_envelope()])[0]
    assert isinstance(result.error, TransientDeliveryError)
    assert "timed out" in str(result.error)


def test_dropped_idle_connection_is_reopened_once(tmp_path: Path) -> None:
    handler, port = RecordingHandler(), free_port()
    first = Controller(handler, hostname="127.0.0.1", port=port)
    first.start()
    backend = smtp_backend(port)
    assert backend.send_messages([make_envelope()])[0].ok
    first.stop()  # the relay restarts while our connection sits idle
    second = Controller(handler, hostname="127.0.0.1", port=port)
    second.start()
    try:
        result = backend.send_messages([make_envelope()])[0]
        backend.close()
    finally:
        second.stop()
    assert result.ok, result.error
    assert len(handler.received) == 2


@pytest.mark.parametrize("pipelining", [False, True])
def test_wire_ready_bytes_with_and_without_pipelining(pipelining: bool) -> None:
    """Pre-encoded (CRLF, dot-stuffed) messages, as digests send them: a line that
    starts with a dot arrives intact, refusals are classified, the session goes on."""
    handler, port = RecordingHandler(pipelining=pipelining), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()

    def raw(to: str) -> Envelope:
        body = b"Subject: dots\r\n\r\nfirst\r\n.. a line that starts with a dot\r\nlast\r\n"
        return Envelope(body, "news@today.az", to, eightbit=True, wire_ready=True)

    handler.script("refused@example.org", "550 5.1.1 no such user")
    handler.refuse_rcpt["unknown@example.org"] = "550 5.1.1 unknown at RCPT"
    handler.refuse_rcpt["later@example.org"] = "450 4.2.0 try later"
    try:
        backend = smtp_backend(port)
        results = backend.send_messages([
            raw("a@example.org"), raw("refused@example.org"), raw("unknown@example.org"),
            raw("later@example.org"), raw("b@example.org")])
        assert backend._conn is not None
        assert backend._conn.has_extn("pipelining") is pipelining
        assert backend.send_messages([raw("c@example.org")])[0].ok, "the session goes on"
        backend.close()
    finally:
        controller.stop()
    assert [r.ok for r in results] == [True, False, False, False, True]
    assert isinstance(results[1].error, PermanentDeliveryError)
    assert "DATA" in str(results[1].error)
    assert isinstance(results[2].error, PermanentDeliveryError)
    assert "RCPT TO" in str(results[2].error)
    assert isinstance(results[3].error, TransientDeliveryError)
    assert [r.rcpt_tos for r in handler.received] == [("a@example.org",), ("b@example.org",),
                                                      ("c@example.org",)]
    assert handler.received[0].data.split(b"\r\n")[3] == b". a line that starts with a dot"


@pytest.mark.parametrize("pipelining", [False, True])
@pytest.mark.parametrize("where", ["DATA", "RCPT TO"])
def test_421_defers_only_its_own_message_the_rest_go_on_a_new_session(
        pipelining: bool, where: str) -> None:
    """RFC 5321 3.8: a 421 ends the session. The message that drew it is deferred with
    the relay's words; the ones behind it go again at once on a new connection."""
    handler, port = RecordingHandler(pipelining=pipelining), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    if where == "DATA":
        handler.script("c@example.org", "421 4.4.2 too many messages in this session")
    else:
        handler.refuse_rcpt["c@example.org"] = "421 4.4.2 too many messages in this session"
    to = [f"{x}@example.org" for x in "abcde"]
    try:
        backend = smtp_backend(port)
        results = backend.send_messages([make_envelope(t) for t in to])
        backend.close()
    finally:
        controller.stop()
    assert [r.ok for r in results] == [True, True, False, True, True]
    error = results[2].error
    assert isinstance(error, TransientDeliveryError) and error.code == 421
    assert "too many messages in this session" in str(error) and where in str(error)
    assert sorted(r.rcpt_tos[0] for r in handler.received) == sorted(set(to) - {to[2]})


def test_a_relay_that_keeps_ending_sessions_costs_a_bounded_number_of_tries() -> None:
    handler, port = RecordingHandler(pipelining=True), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    for x in "abcdefg":
        handler.refuse_rcpt[f"{x}@example.org"] = "421 4.3.2 shutting down"
    try:
        backend = smtp_backend(port)
        results = backend.send_messages([make_envelope(f"{x}@example.org") for x in "abcdefg"])
        backend.close()
    finally:
        controller.stop()
    assert len(results) == 7 and not any(r.ok for r in results)
    assert all(isinstance(r.error, TransientDeliveryError) and r.error.code == 421
               for r in results)
    # The first message of each of the 1 + SESSION_RESTARTS sessions was tried.
    assert sum(handler.rcpt_attempts.values()) == 4


@pytest.mark.parametrize("refusal", ["554 5.7.1 <a@example.org>: Relay access denied",
                                     "530 5.7.0 Authentication required"])
def test_a_relay_refusing_us_at_rcpt_blames_the_relay(refusal: str) -> None:
    handler, port = RecordingHandler(pipelining=True), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    handler.refuse_rcpt["a@example.org"] = refusal
    try:
        backend = smtp_backend(port)
        result = backend.send_messages([make_envelope("a@example.org")])[0]
        backend.close()
    finally:
        controller.stop()
    assert isinstance(result.error, RelayRefused)
    assert refusal.partition(" ")[2] in str(result.error)
