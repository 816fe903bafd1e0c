"""One suite for every backend (memory, file, real SMTP), then SMTP's own cases."""

from __future__ import annotations

import email
import socket
import ssl
from collections.abc import Callable, Iterator
from email import policy
from pathlib import Path

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from mailer.config import SmtpConfig
from mailer.errors import (
    PermanentDeliveryError,
    RelayRefused,
    Throttled,
    TransientDeliveryError,
)
from mailer.local.embedded import free_port
from mailer.sending.backends.base import EmailBackend
from mailer.sending.backends.file import FileBackend
from mailer.sending.backends.memory import MemoryBackend
from mailer.sending.backends.smtp import SmtpBackend
from mailer.sending.message import Envelope, RenderedEmail, build_message
from tests.support.smtp import RecordingHandler


def make_envelope(to: str = "bob@example.org", subject: str = "Hello") -> Envelope:
    msg = build_message(
        rendered=RenderedEmail(subject, "<p>Hi</p>", "Hi"),
        from_addr=("Site", "news@today.az"), to_addr=("Bob", to), reply_to=None,
        domain="today.az")
    return Envelope(msg, "news@today.az", to, smtputf8=not to.isascii(), eightbit=True,
                    wire_ready=True)


Readback = Callable[[], list[bytes]]


# The relays the SMTP backend meets: (8BITMIME, PIPELINING, SMTPUTF8) offered or not.
RELAYS = {"smtp": (True, False, True), "smtp-pipelining": (True, True, True),
          "smtp-7bit": (False, False, False), "smtp-7bit-pipelining": (False, True, True)}


@pytest.fixture(params=["memory", "file", *RELAYS])
def backend(request: pytest.FixtureRequest, tmp_path: Path
            ) -> Iterator[tuple[EmailBackend, Readback]]:
    if request.param == "memory":
        mem = MemoryBackend()
        yield mem, lambda: [e.content() for e in mem.outbox]
    elif request.param == "file":
        yield FileBackend(tmp_path), lambda: [
            p.read_bytes().split(b"\r\n", 2)[2] for p in sorted(tmp_path.glob("*.eml"),
                                                                key=lambda p: p.stat().st_mtime_ns)]
    elif request.param == "smtp":
        handler: RecordingHandler = request.getfixturevalue("smtp")
        port: int = request.getfixturevalue("smtp_port")
        smtp = SmtpBackend(SmtpConfig("127.0.0.1", port, timeout=5))
        yield smtp, lambda: [r.data for r in handler.received]
        smtp.close()
    else:
        eightbit, pipelining, utf8 = RELAYS[request.param]
        relay = RecordingHandler(pipelining=pipelining, eightbitmime=eightbit)
        port = free_port()
        controller = Controller(relay, hostname="127.0.0.1", port=port, enable_SMTPUTF8=utf8)
        controller.start()
        smtp = SmtpBackend(SmtpConfig("127.0.0.1", port, timeout=5))
        smtp.relay_offers = RELAYS[request.param]  # type: ignore[attr-defined]
        yield smtp, lambda: [r.data for r in relay.received]
        smtp.close()
        controller.stop()


class TestBackendContract:
    def test_sends_each_message_once(self, backend: tuple[EmailBackend, Readback]) -> None:
        sender, readback = backend
        envelopes = [make_envelope(subject=f"Message {i}") for i in range(3)]
        with sender:
            results = sender.send_messages(envelopes)
        assert [r.ok for r in results] == [True, True, True]
        assert all(r.reply.startswith("250") for r in results)
        got = [email.message_from_bytes(raw, policy=policy.default) for raw in readback()]
        assert sorted(m["Subject"] for m in got) == ["Message 0", "Message 1", "Message 2"]
        assert {m["Message-ID"] for m in got} == {
            email.message_from_bytes(e.content(), policy=policy.default)["Message-ID"]
            for e in envelopes}

    def test_open_and_close_are_idempotent(self, backend: tuple[EmailBackend, Readback]) -> None:
        sender, readback = backend
        sender.open()
        sender.open()
        sender.close()
        sender.close()
        assert sender.send_messages([make_envelope()])[0].ok
        assert len(readback()) == 1

    def test_empty_batch(self, backend: tuple[EmailBackend, Readback]) -> None:
        sender, readback = backend
        assert sender.send_messages([]) == []
        assert readback() == []

    def test_admit_holds_back_a_domain_or_the_rest(
            self, backend: tuple[EmailBackend, Readback]) -> None:
        sender, readback = backend
        asked: list[str] = []

        def admit(env: Envelope) -> None:
            asked.append(env.recipient)
            if env.recipient.endswith("@slow.example"):
                raise Throttled(3.0, "domain", "domain:slow.example")
            if env.recipient.startswith("stop"):
                raise Throttled(1.0, "relay", "relay:x")

        to = ["a@fast.example", "b@slow.example", "c@fast.example", "stop@fast.example",
              "d@fast.example"]
        results = sender.send_messages([make_envelope(t, t) for t in to], wait_for_slot=admit)
        held = [(r.envelope.recipient, r.error.scope) for r in results
                if isinstance(r.error, Throttled)]
        assert held == [("b@slow.example", "domain"), ("stop@fast.example", "relay"),
                        ("d@fast.example", "relay")]
        assert asked == to[:4], "once the relay is full the rest are held without asking"
        sent = [email.message_from_bytes(raw, policy=policy.default)["Subject"]
                for raw in readback()]
        assert sent == ["a@fast.example", "c@fast.example"]

    def test_utf8_address(self, backend: tuple[EmailBackend, Readback]) -> None:
        sender, readback = backend
        result = sender.send_messages([make_envelope("vüqar@bücher.az")])[0]
        if getattr(sender, "relay_offers", (True, True, True))[2]:
            assert result.ok
            assert "vüqar@bücher.az".encode() in readback()[0]
        else:
            assert isinstance(result.error, PermanentDeliveryError)
            assert "SMTPUTF8" in str(result.error) and readback() == []

    @pytest.mark.parametrize("count", [1, 3])
    def test_text_arrives_exactly_and_7bit_where_8bitmime_is_not_offered(
            self, backend: tuple[EmailBackend, Readback], count: int) -> None:
        """RFC 6152: no 8bit body to a relay that did not offer 8BITMIME. Whatever the
        transfer encoding, both parts decode to exactly the text of the message as built
        (lines past SMTP's limit broken at spaces, as every message is)."""
        sender, readback = backend
        text = ("Salam, Ləman! Şəhərdə ğ ı ö ü ç — “quotes” 😀\n"
                ".a line that starts with a dot\n" + "uzun sətir " * 120 + "\ntrailing  \n")
        html = f"<p>{text}</p><p>{'ə' * 1200}</p>"
        envelopes = []
        for i in range(count):
            data = build_message(rendered=RenderedEmail(f"Xəbər {i}", html, text),
                                 from_addr=("Sayt", "news@today.az"),
                                 to_addr=("Bob", f"bob{i}@example.org"), reply_to=None,
                                 domain="today.az")
            envelopes.append(Envelope(data, "news@today.az", f"bob{i}@example.org",
                                      eightbit=True, wire_ready=True))
        assert all(r.ok for r in sender.send_messages(envelopes))
        got = readback()
        assert len(got) == count
        seven_bit_only = not getattr(sender, "relay_offers", (True,))[0]

        def texts(raw: bytes) -> list[str]:
            msg = email.message_from_bytes(raw, policy=policy.default)
            assert msg.defects == []
            return [part.get_content().replace("\r\n", "\n") for part in msg.walk()
                    if not part.is_multipart()]

        for raw, envelope in zip(got, envelopes, strict=True):
            plain, rich = texts(raw)
            assert [plain, rich] == texts(envelope.content())
            assert "Şəhərdə ğ ı ö ü ç — “quotes” 😀\n.a line that starts" in plain
            assert "ə" * 1200 in rich
            assert max(len(line) for line in raw.split(b"\r\n")) <= 998
            if seven_bit_only:
                assert raw.isascii(), "8bit data sent to a relay without 8BITMIME"
                assert raw.count(b"Content-Transfer-Encoding: quoted-printable") == 2


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
