"""SMTP on the wire, below the backend: reading replies (a 421 or a dropped connection
ends the session, keeping the relay's words), and what a message's MAIL FROM and DATA
carry on this connection (7-bit for a relay without 8BITMIME, RFC 6152)."""

from __future__ import annotations

import contextlib
import smtplib
import socket
import ssl

from mailer.errors import DeliveryError, PermanentDeliveryError, TransientDeliveryError
from mailer.sending.message import Envelope
from mailer.sending.replies import classify as classify_reply

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


def quietly_close(conn: smtplib.SMTP | None) -> None:
    if conn is None:
        return
    with contextlib.suppress(OSError):
        conn.close()
