"""The contract every backend keeps, as one test class (like Django's mail tests): each
backend's test module subclasses `BackendContract` and gives it a `harness` fixture."""

from __future__ import annotations

import email
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email import policy

import pytest

from mailer.errors import PermanentDeliveryError, Throttled
from mailer.sending.backends.base import EmailBackend, ResultHook, SendResult, WaitForSlot
from mailer.sending.message import Envelope, RenderedEmail, build_message


def make_envelope(to: str = "bob@example.org", subject: str = "Hello") -> Envelope:
    msg = build_message(
        rendered=RenderedEmail(subject, "<p>Hi</p>", "Hi"),
        from_addr=("Site", "news@today.az"), to_addr=("Bob", to), reply_to=None,
        domain="today.az")
    return Envelope(msg, "news@today.az", to, smtputf8=not to.isascii(), eightbit=True,
                    wire_ready=True)


Readback = Callable[[], list[bytes]]
Send = Callable[[Sequence[Envelope], ResultHook | None, WaitForSlot | None], list[SendResult]]


@dataclass(frozen=True)
class RelayOffers:
    """What the receiving end offers in its EHLO (a backend without a relay: all)."""

    eightbitmime: bool = True
    pipelining: bool = True
    smtputf8: bool = True


@dataclass(frozen=True)
class Harness:
    backend: EmailBackend
    readback: Readback  # each message's content as it arrived
    offers: RelayOffers = RelayOffers()
    send: Send | None = None  # how to pace this backend, if not by `wait_for_slot`

    def send_messages(self, envelopes: Sequence[Envelope], on_result: ResultHook | None = None,
                      wait_for_slot: WaitForSlot | None = None) -> list[SendResult]:
        if self.send is not None:
            return self.send(envelopes, on_result, wait_for_slot)
        return self.backend.send_messages(envelopes, on_result=on_result,
                                          wait_for_slot=wait_for_slot)


def subjects(raw: list[bytes]) -> list[str]:
    return [str(email.message_from_bytes(m, policy=policy.default)["Subject"]) for m in raw]


def slow_domain_and_full_relay(asked: list[str]) -> WaitForSlot:
    """No slot for slow.example; none for the relay from the message to stop@ on."""
    def wait_for_slot(env: Envelope) -> None:
        asked.append(env.recipient)
        if env.recipient.endswith("@slow.example"):
            raise Throttled(3.0, "domain", "domain:slow.example")
        if env.recipient.startswith("stop"):
            raise Throttled(1.0, "relay", "relay:x")
    return wait_for_slot


class BackendContract:
    def test_sends_each_message_once(self, harness: Harness) -> None:
        envelopes = [make_envelope(subject=f"Message {i}") for i in range(3)]
        with harness.backend:
            results = harness.send_messages(envelopes)
        assert [r.ok for r in results] == [True, True, True]
        assert all(r.reply.startswith("250") for r in results)
        got = [email.message_from_bytes(raw, policy=policy.default)
               for raw in harness.readback()]
        assert sorted(m["Subject"] for m in got) == ["Message 0", "Message 1", "Message 2"]
        assert {m["Message-ID"] for m in got} == {
            email.message_from_bytes(e.content(), policy=policy.default)["Message-ID"]
            for e in envelopes}

    def test_each_envelope_gets_a_result_in_order(self, harness: Harness) -> None:
        to = ["a@example.org", "b@slow.example", "c@example.org", "vüqar@bücher.az"]
        envelopes = [make_envelope(t, t) for t in to]
        results = harness.send_messages(envelopes, wait_for_slot=slow_domain_and_full_relay([]))
        assert [r.envelope.recipient for r in results] == to
        assert [r.ok for r in results] == [True, False, True, harness.offers.smtputf8]

    def test_the_result_hook_sees_each_result_in_order(self, harness: Harness) -> None:
        heard: list[tuple[int, SendResult]] = []
        envelopes = [make_envelope(f"r{i}@example.org") for i in range(4)]
        envelopes.insert(2, make_envelope("b@slow.example"))
        results = harness.send_messages(envelopes, on_result=lambda i, r: heard.append((i, r)),
                                        wait_for_slot=slow_domain_and_full_relay([]))
        assert heard == list(enumerate(results))
        assert [r.envelope.recipient for _, r in heard] == [e.recipient for e in envelopes]
        assert isinstance(results[2].error, Throttled)

    def test_a_message_without_a_send_slot_is_held_back(self, harness: Harness) -> None:
        asked: list[str] = []
        to = ["a@fast.example", "b@slow.example", "c@fast.example"]
        results = harness.send_messages([make_envelope(t, t) for t in to],
                                        wait_for_slot=slow_domain_and_full_relay(asked))
        assert [r.ok for r in results] == [True, False, True]
        error = results[1].error
        assert isinstance(error, Throttled) and error.scope == "domain"
        assert asked == to
        assert sorted(subjects(harness.readback())) == ["a@fast.example", "c@fast.example"]

    def test_a_relay_without_a_slot_holds_back_the_rest_without_asking(
            self, harness: Harness) -> None:
        asked: list[str] = []
        to = ["a@fast.example", "b@slow.example", "c@fast.example", "stop@fast.example",
              "d@fast.example"]
        results = harness.send_messages([make_envelope(t, t) for t in to],
                                        wait_for_slot=slow_domain_and_full_relay(asked))
        held = [(r.envelope.recipient, r.error.scope) for r in results
                if isinstance(r.error, Throttled)]
        assert held == [("b@slow.example", "domain"), ("stop@fast.example", "relay"),
                        ("d@fast.example", "relay")]
        assert asked == to[:4], "once the relay is full the rest are held without asking"
        assert sorted(subjects(harness.readback())) == ["a@fast.example", "c@fast.example"]

    def test_open_and_close_twice_is_safe(self, harness: Harness) -> None:
        harness.backend.open()
        harness.backend.open()
        harness.backend.close()
        harness.backend.close()
        assert harness.send_messages([make_envelope()])[0].ok
        assert len(harness.readback()) == 1

    def test_as_a_context_manager(self, harness: Harness) -> None:
        with harness.backend as backend:
            assert backend is harness.backend
            assert harness.send_messages([make_envelope(subject="inside")])[0].ok
        assert harness.send_messages([make_envelope(subject="after")])[0].ok, "reopens"
        assert sorted(subjects(harness.readback())) == ["after", "inside"]

    def test_empty_batch(self, harness: Harness) -> None:
        assert harness.send_messages([]) == []
        assert harness.readback() == []

    def test_utf8_address(self, harness: Harness) -> None:
        result = harness.send_messages([make_envelope("vüqar@bücher.az")])[0]
        if harness.offers.smtputf8:
            assert result.ok
            assert "vüqar@bücher.az".encode() in harness.readback()[0]
        else:
            assert isinstance(result.error, PermanentDeliveryError)
            assert "SMTPUTF8" in str(result.error) and harness.readback() == []

    @pytest.mark.parametrize("count", [1, 3])
    def test_text_arrives_exactly_and_7bit_where_8bitmime_is_not_offered(
            self, harness: Harness, count: int) -> None:
        """RFC 6152: no 8bit body to a relay that did not offer 8BITMIME. Whatever the
        transfer encoding, both parts decode to exactly the text of the message as built
        (lines past SMTP's limit broken at spaces, as every message is)."""
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
        assert all(r.ok for r in harness.send_messages(envelopes))
        got = harness.readback()
        assert len(got) == count

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
            if not harness.offers.eightbitmime:
                assert raw.isascii(), "8bit data sent to a relay without 8BITMIME"
                assert raw.count(b"Content-Transfer-Encoding: quoted-printable") == 2
