"""One SMTP session on the wire, below the backend: reading replies (a 421 or a dropped
connection ends the session, keeping the relay's words), what a message's MAIL FROM and
DATA carry on this connection (7-bit for a relay without 8BITMIME, RFC 6152), and a
pipelined batch (RFC 2920), one round trip a message."""

from __future__ import annotations

import contextlib
import smtplib
import socket
import ssl
from collections.abc import Callable, Sequence

from mailer.errors import DeliveryError, PermanentDeliveryError, TransientDeliveryError
from mailer.sending.message import Envelope
from mailer.sending.replies import classify as classify_reply
from mailer.sending.transport import Gate, SendResult

CONNECTION_ERRORS = (smtplib.SMTPServerDisconnected, OSError, ssl.SSLError, socket.timeout)
NO_SMTPUTF8 = "the relay does not support SMTPUTF8, needed for this address"


def text_of(reply: bytes | str) -> str:
    if isinstance(reply, bytes):
        return reply.decode("utf-8", "replace")
    return reply


def classify(code: int, reply: bytes | str, stage: str = "") -> DeliveryError:
    return classify_reply(code, text_of(reply), stage)


class SessionEnded(Exception):
    """The relay ended the session (421 or a dropped connection) while we waited for a
    reply; `error` keeps what it said."""

    def __init__(self, error: TransientDeliveryError) -> None:
        self.error = error


def read_reply(conn: smtplib.SMTP, stage: str) -> tuple[int, bytes]:
    """One reply; a 421 (RFC 5321 3.8: the relay is closing the session) or a dropped
    connection ends the session, keeping what the relay said."""
    try:
        code, text = conn.getreply()
    except (*CONNECTION_ERRORS, smtplib.SMTPException) as exc:
        quietly_close(conn)
        raise SessionEnded(TransientDeliveryError(
            0, f"connection lost: {exc or type(exc).__name__}", stage)) from None
    if code == 421:
        quietly_close(conn)
        error = classify(code, text, stage)
        raise SessionEnded(error if isinstance(error, TransientDeliveryError)
                            else TransientDeliveryError(code, str(error), stage))
    return code, text


def payload(conn: smtplib.SMTP, env: Envelope) -> bytes:
    """What goes after DATA on this connection: 8bit parts re-encoded to 7-bit for a
    relay that does not offer 8BITMIME (RFC 6152 forbids sending it 8bit)."""
    if env.eightbit and not env.smtputf8 and not conn.has_extn("8bitmime"):
        return env.as_7bit()
    return env.as_bytes()


def mail_options(conn: smtplib.SMTP, env: Envelope, size: int) -> list[str]:
    if env.smtputf8 and not conn.has_extn("smtputf8"):
        raise PermanentDeliveryError(0, NO_SMTPUTF8)
    options: list[str] = []
    if env.smtputf8:
        options += ["SMTPUTF8", "BODY=8BITMIME"]
    elif env.eightbit and conn.has_extn("8bitmime"):
        options.append("BODY=8BITMIME")
    if conn.has_extn("size"):
        options.append(f"SIZE={size}")
    return options


def commands(conn: smtplib.SMTP, env: Envelope, size: int) -> bytes:
    options = mail_options(conn, env, size)
    line = (f"MAIL FROM:<{env.sender}>{''.join(' ' + o for o in options)}\r\n"
            f"RCPT TO:<{env.recipient}>\r\nDATA\r\n")
    return line.encode("utf-8" if env.smtputf8 else "ascii")


def send_pipelined(conn: smtplib.SMTP, envelopes: Sequence[Envelope],
                   results: list[SendResult], emit: Callable[[SendResult], None],
                   gate: Gate, carried: bool) -> DeliveryError | None:
    """One round trip a message (RFC 2920): each write carries the previous
    message's content and end-of-data with the next message's MAIL, RCPT and DATA,
    and the replies come back in that order. Results are emitted in order, each as
    soon as its reply is read, from the first envelope without a result.

    Returns the error that ended the session early (the connection is then closed):
    the message whose reply it was has its result, unless the connection was
    `carried` over from an earlier call and this was its first message (a relay that
    dropped an idle session has not seen it), and the rest go again on a new one."""
    pending: int | None = None  # its DATA got 354: its content goes out next
    content = b""
    reset = False  # a MAIL was accepted for a message that then failed: RSET first
    index = first = len(results)
    awaiting: int | None = None  # whose reply we are reading
    assert conn.sock is not None
    try:
        while index < len(envelopes) or pending is not None:
            out = bytearray()
            if pending is not None:
                awaiting = pending
                out += content + (b".\r\n" if content.endswith(b"\r\n")
                                  else b"\r\n.\r\n")
            if reset:
                out += b"RSET\r\n"
            current = index if index < len(envelopes) else None
            refused: SendResult | None = None
            if current is not None:
                env = envelopes[current]
                if out and gate.paced:
                    # The previous message is finished off before the wait for this
                    # one's send slot (unpaced, both go in one write).
                    conn.sock.sendall(bytes(out))
                    out.clear()
                held: DeliveryError | None = gate.check(env)
                next_payload = b""
                if held is None:
                    next_payload = payload(conn, env)
                    try:
                        out += commands(conn, env, len(next_payload))
                    except PermanentDeliveryError as exc:
                        held = exc
                if held is not None:
                    refused = SendResult(env, "", held)
                    current = None
                index += 1
            if out:
                conn.sock.sendall(bytes(out))
            if pending is not None:
                code, text = read_reply(conn, "DATA")
                carried = False
                env = envelopes[pending]
                emit(SendResult(env, f"{code} {text_of(text)}") if code == 250
                     else SendResult(env, "", classify(code, text, "DATA")))
                pending = awaiting = None
            if reset:
                read_reply(conn, "RSET")
                reset = False
            if refused is not None:
                emit(refused)
            if current is not None:
                awaiting = current
                (mail, mail_text), (rcpt, rcpt_text), (data_code, data_text) = (
                    read_reply(conn, "MAIL FROM"), read_reply(conn, "RCPT TO"),
                    read_reply(conn, "DATA"))
                carried = False
                if mail == 250 and rcpt in (250, 251) and data_code == 354:
                    pending, content = current, next_payload
                    continue
                awaiting = None
                if data_code == 354:  # opened anyway: close it empty
                    conn.sock.sendall(b".\r\n")
                    read_reply(conn, "DATA")
                error = (classify(mail, mail_text, "MAIL FROM") if mail != 250 else
                         classify(rcpt, rcpt_text, "RCPT TO") if rcpt not in (250, 251)
                         else classify(data_code, data_text, "DATA"))
                emit(SendResult(envelopes[current], "", error))
                reset = mail == 250
        if reset:
            reply_to(conn, b"RSET\r\n")
        return None
    except SessionEnded as ended:
        lost: DeliveryError = ended.error
    except (*CONNECTION_ERRORS, smtplib.SMTPException) as exc:
        quietly_close(conn)
        lost = TransientDeliveryError(0, f"connection lost: {exc or type(exc).__name__}")
    if awaiting is not None and awaiting == len(results) and not (
            carried and awaiting == first and lost.stage != "DATA"):
        emit(SendResult(envelopes[awaiting], "", lost))
    return lost


def reply_to(conn: smtplib.SMTP, command: bytes) -> tuple[int, bytes]:
    assert conn.sock is not None
    conn.sock.sendall(command)
    return read_reply(conn, command.decode().strip())


def quietly_close(conn: smtplib.SMTP | None) -> None:
    if conn is None:
        return
    with contextlib.suppress(OSError):
        conn.close()
