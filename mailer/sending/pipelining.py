"""A pipelined SMTP session (RFC 2920): one round trip a message.

Each write carries the previous message's content and end-of-data together with the
next message's MAIL, RCPT and DATA, and the replies come back in that order. A message
is in one of two places between writes: its envelope commands are in flight (their
three replies are read next), or its DATA got 354 and its content goes out in the next
write ("open data").
"""

from __future__ import annotations

import smtplib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from mailer.errors import DeliveryError, PermanentDeliveryError, TransientDeliveryError
from mailer.sending.backends.base import SendResult, SlotCheck
from mailer.sending.message import Envelope
from mailer.sending.smtp_wire import (
    CONNECTION_ERRORS,
    SessionEnded,
    classify,
    commands,
    payload,
    quietly_close,
    read_reply,
    text_of,
)

END_OF_DATA = b".\r\n"
RSET = b"RSET\r\n"


@dataclass(frozen=True)
class SessionOutcome:
    results: tuple[SendResult, ...]  # in order, from the first envelope; may stop short
    ended: DeliveryError | None  # what ended the session early (the connection is closed)


@dataclass(frozen=True)
class _Queued:
    """A message whose MAIL, RCPT and DATA went out, with the content that follows."""

    index: int
    content: bytes


class PipelinedSession:
    """Sends `envelopes` over `conn`, which offers PIPELINING; one use.

    Results are passed to `report` in order, each as soon as its reply is read, so the
    caller can record it before the next message goes out, and are returned by `run`.
    When the relay ends the session (421, or a dropped connection) the message whose
    reply was lost gets the relay's words, unless it is the first envelope on a
    `reused_connection` and was lost before DATA (a relay that dropped an idle
    connection has not seen it): it is left without a result, to go again on a new one.
    """

    def __init__(self, conn: smtplib.SMTP, envelopes: Sequence[Envelope], slots: SlotCheck,
                 report: Callable[[SendResult], None] | None = None,
                 reused_connection: bool = False) -> None:
        assert conn.sock is not None
        self._conn = conn
        self._sock = conn.sock
        self._envelopes = envelopes
        self._slots = slots
        self._report = report
        self.reused_connection = reused_connection  # until the relay's first reply
        self.results: list[SendResult] = []
        self._open_data: _Queued | None = None
        self._reset_owed = False  # a MAIL was accepted for a message that then failed
        self._awaiting: int | None = None  # the message whose reply is being read

    def run(self) -> SessionOutcome:
        try:
            for index in range(len(self._envelopes)):
                self._round(index)
            if self._open_data is not None:
                self._round(None)
            if self._reset_owed:
                self._sock.sendall(RSET)
                read_reply(self._conn, "RSET")
        except SessionEnded as ended:
            return self._ended(ended.error)
        except (*CONNECTION_ERRORS, smtplib.SMTPException) as exc:
            quietly_close(self._conn)
            return self._ended(TransientDeliveryError(
                0, f"connection lost: {exc or type(exc).__name__}"))
        return SessionOutcome(tuple(self.results), None)

    def _round(self, index: int | None) -> None:
        """One write and its replies: the open message's content and end-of-data, RSET
        if one is owed, then message `index`'s MAIL, RCPT and DATA."""
        out = bytearray(self._data_end())
        if self._reset_owed:
            out += RSET
        queued: _Queued | SendResult | None = None
        if index is not None:
            queued = self._envelope(index, out)
        if out:
            self._sock.sendall(bytes(out))
        self._read_data_reply()
        self._read_reset_reply()
        if isinstance(queued, SendResult):
            self._add(queued)
        elif queued is not None:
            self._read_envelope_replies(queued)

    def _data_end(self) -> bytes:
        """The open message's content and end-of-data, to go in this round's write."""
        if self._open_data is None:
            return b""
        self._awaiting = self._open_data.index
        content = self._open_data.content
        return content + (END_OF_DATA if content.endswith(b"\r\n") else b"\r\n" + END_OF_DATA)

    def _envelope(self, index: int, out: bytearray) -> _Queued | SendResult:
        """Adds message `index`'s MAIL, RCPT and DATA to `out`, or the result that holds
        it back (no send slot, or an address this relay cannot take)."""
        env = self._envelopes[index]
        if out and self._slots.paced:
            # The previous message is finished off before the wait for this one's send
            # slot (unpaced, both go in one write).
            self._sock.sendall(bytes(out))
            out.clear()
        held = self._slots.throttled(env)
        if held is not None:
            return SendResult(env, "", held)
        content = payload(self._conn, env)
        try:
            out += commands(self._conn, env, len(content))
        except PermanentDeliveryError as exc:
            return SendResult(env, "", exc)
        return _Queued(index, content)

    def _read_data_reply(self) -> None:
        """The open message's fate: the reply to its end-of-data."""
        if self._open_data is None:
            return
        code, text = read_reply(self._conn, "DATA")
        self.reused_connection = False
        env = self._envelopes[self._open_data.index]
        self._add(SendResult(env, f"{code} {text_of(text)}") if code == 250
                  else SendResult(env, "", classify(code, text, "DATA")))
        self._open_data = self._awaiting = None

    def _read_reset_reply(self) -> None:
        if self._reset_owed:
            read_reply(self._conn, "RSET")
            self._reset_owed = False

    def _read_envelope_replies(self, queued: _Queued) -> None:
        """MAIL, RCPT and DATA's replies: the message's data is open, or it failed."""
        self._awaiting = queued.index
        mail = read_reply(self._conn, "MAIL FROM")
        rcpt = read_reply(self._conn, "RCPT TO")
        data = read_reply(self._conn, "DATA")
        self.reused_connection = False
        if mail[0] == 250 and rcpt[0] in (250, 251) and data[0] == 354:
            self._open_data = queued
            return
        self._awaiting = None
        if data[0] == 354:  # opened anyway: close it empty
            self._sock.sendall(END_OF_DATA)
            read_reply(self._conn, "DATA")
        error = (classify(*mail, "MAIL FROM") if mail[0] != 250 else
                 classify(*rcpt, "RCPT TO") if rcpt[0] not in (250, 251)
                 else classify(*data, "DATA"))
        self._add(SendResult(self._envelopes[queued.index], "", error))
        self._reset_owed = mail[0] == 250

    def _ended(self, lost: DeliveryError) -> SessionOutcome:
        """The relay ended the session: the message whose reply was lost has its
        result, unless the relay cannot have seen it."""
        lost_one = self._awaiting
        if lost_one is not None and lost_one == len(self.results) and not (
                self.reused_connection and lost_one == 0 and lost.stage != "DATA"):
            self._add(SendResult(self._envelopes[lost_one], "", lost))
        return SessionOutcome(tuple(self.results), lost)

    def _add(self, result: SendResult) -> None:
        if self._report is not None:
            self._report(result)
        self.results.append(result)
