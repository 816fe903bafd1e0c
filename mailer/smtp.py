"""SMTP backend: plain, STARTTLS or implicit TLS, with auth; one connection, many messages.

Every reply is classified by the one reply policy (mailer/replies.py). A session the
relay ends (421, or a dropped connection) costs only the message whose reply ended it:
the messages behind it go again at once on a new session, not counted as attempts.
A relay that does not offer 8BITMIME gets each 8bit message re-encoded to 7-bit first.
"""

from __future__ import annotations

import contextlib
import smtplib
import socket
import ssl
from collections.abc import Callable, Sequence

from mailer.config import SmtpConfig
from mailer.errors import (
    DeliveryError,
    PermanentDeliveryError,
    RelayRefused,
    RelayUnavailable,
    TransientDeliveryError,
)
from mailer.message import Envelope
from mailer.mime import dot_stuff, seven_bit, undot
from mailer.replies import classify as classify_reply
from mailer.transport import Admit, EmailBackend, Gate, ResultHook, SendResult

_CONNECTION_ERRORS = (smtplib.SMTPServerDisconnected, OSError, ssl.SSLError, socket.timeout)
# New sessions one send_messages call may open after the relay ended one (421): the
# messages behind the one that drew it go again on each, up to this many times.
SESSION_RESTARTS = 3
NO_SMTPUTF8 = "the relay does not support SMTPUTF8, needed for this address"


def _text(reply: bytes | str) -> str:
    if isinstance(reply, bytes):
        return reply.decode("utf-8", "replace")
    return reply


def classify(code: int, reply: bytes | str, stage: str = "") -> DeliveryError:
    return classify_reply(code, _text(reply), stage)


class _SessionEnded(Exception):
    """The relay ended the session (421 or a dropped connection) while we waited for a
    reply to the message at `index`."""

    def __init__(self, error: TransientDeliveryError) -> None:
        self.error = error


def _reply(conn: smtplib.SMTP, stage: str) -> tuple[int, bytes]:
    """One reply; a 421 (RFC 5321 3.8: the relay is closing the session) or a dropped
    connection ends the session, keeping what the relay said."""
    try:
        code, text = conn.getreply()
    except (*_CONNECTION_ERRORS, smtplib.SMTPException) as exc:
        _quietly_close(conn)
        raise _SessionEnded(TransientDeliveryError(
            0, f"connection lost: {exc or type(exc).__name__}", stage)) from None
    if code == 421:
        _quietly_close(conn)
        error = classify(code, text, stage)
        raise _SessionEnded(error if isinstance(error, TransientDeliveryError)
                            else TransientDeliveryError(code, str(error), stage))
    return code, text


class SmtpBackend(EmailBackend):
    def __init__(self, config: SmtpConfig, local_hostname: str | None = None) -> None:
        self.config = config
        self.local_hostname = local_hostname
        self._conn: smtplib.SMTP | None = None
        # The connection was opened by an earlier call and has sat idle since: if the
        # relay has dropped it, the first message deserves one fresh connection.
        self._carried = False

    @property
    def is_open(self) -> bool:
        return self._conn is not None

    def _tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.config.cafile)

    def open(self) -> None:
        if self._conn is not None:
            return
        cfg = self.config
        conn: smtplib.SMTP | None = None
        try:
            if cfg.security == "tls":
                conn = smtplib.SMTP_SSL(cfg.host, cfg.port, local_hostname=self.local_hostname,
                                        timeout=cfg.timeout, context=self._tls_context())
            else:
                conn = smtplib.SMTP(cfg.host, cfg.port, local_hostname=self.local_hostname,
                                    timeout=cfg.timeout)
            conn.ehlo()
            if cfg.security == "starttls":
                conn.starttls(context=self._tls_context())
                conn.ehlo()
            if cfg.username:
                conn.login(cfg.username, cfg.password or "")
        except smtplib.SMTPAuthenticationError as exc:
            _quietly_close(conn)
            # The relay refused our credentials: an operator must fix the settings, but
            # the mail itself is fine, so it waits (transient) rather than failing.
            raise RelayRefused(exc.smtp_code, f"AUTH: {_text(exc.smtp_error)}",
                               "connect") from None
        except smtplib.SMTPResponseException as exc:
            _quietly_close(conn)
            # Even a 5xx greeting is about the relay, not about any one message.
            kind = RelayRefused if exc.smtp_code >= 500 else RelayUnavailable
            raise kind(exc.smtp_code, f"connect: {_text(exc.smtp_error)}",
                       "connect") from None
        except (*_CONNECTION_ERRORS, smtplib.SMTPException) as exc:
            _quietly_close(conn)
            raise RelayUnavailable(
                0, f"cannot connect to {cfg.host}:{cfg.port}: {exc or type(exc).__name__}"
            ) from None
        if conn.sock is not None:
            # Commands and replies alternate: Nagle's algorithm would only hold a
            # paced message's commands back until the previous write is acknowledged.
            with contextlib.suppress(OSError):
                conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._conn = conn
        self._carried = False

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.quit()
        except (*_CONNECTION_ERRORS, smtplib.SMTPException):
            _quietly_close(conn)

    def send_messages(self, envelopes: Sequence[Envelope], on_result: ResultHook | None = None,
                      admit: Admit | None = None) -> list[SendResult]:
        results: list[SendResult] = []
        gate = Gate(admit)

        def emit(result: SendResult) -> None:
            if on_result is not None:
                try:
                    on_result(len(results), result)
                except BaseException:
                    # The caller gave up mid-session (its database went away): the
                    # session's state is unknown, so it is not reused.
                    _quietly_close(self._conn)
                    self._conn = None
                    raise
            results.append(result)

        self._carried = self._conn is not None
        batch = len(envelopes) > 1 and all(e.wire_ready for e in envelopes)
        last: DeliveryError | None = None
        for _ in range(SESSION_RESTARTS + 1):
            if batch:
                try:
                    self.open()
                except DeliveryError as exc:
                    for env in envelopes[len(results):]:
                        emit(SendResult(env, "", exc))
                    return results
                assert self._conn is not None
            if batch and self._conn is not None and self._conn.has_extn("pipelining"):
                ended = self._send_pipelined(self._conn, envelopes, results, emit, gate)
            else:
                ended = self._send_each(envelopes, results, emit, gate)
            if ended is None or len(results) == len(envelopes):
                return results
            # The relay ended the session: only the message that drew it is deferred;
            # the ones behind it go again on a new session.
            last = ended
        assert last is not None
        for env in envelopes[len(results):]:
            emit(SendResult(env, "", last))
        return results

    def _send_each(self, envelopes: Sequence[Envelope], results: list[SendResult],
                   emit: Callable[[SendResult], None], gate: Gate) -> DeliveryError | None:
        """One message at a time, from the first without a result. Returns the error
        that ended the session early, if one did."""
        for env in envelopes[len(results):]:
            held = gate.check(env)
            if held is not None:
                emit(SendResult(env, "", held))
                continue
            reused = self._carried
            try:
                self.open()
            except DeliveryError as exc:
                # No session at all: every message not yet tried waits for the next attempt.
                for rest in envelopes[len(results):]:
                    emit(SendResult(rest, "", exc))
                return None
            try:
                try:
                    reply = self._send(env)
                except TransientDeliveryError as exc:
                    if not reused or self._conn is not None or exc.stage == "DATA":
                        raise
                    # The relay dropped a connection we had kept open (idle timeout,
                    # restart): one fresh connection before calling it a deferral.
                    self.open()
                    reply = self._send(env)
            except DeliveryError as exc:
                self._carried = False
                emit(SendResult(env, "", exc))
                if self._conn is None:
                    return exc
                continue
            self._carried = False
            emit(SendResult(env, reply))
        return None
    def _send(self, env: Envelope) -> str:
        conn = self._conn
        assert conn is not None
        try:
            return self._transact(conn, env)
        except _SessionEnded as ended:
            self._conn = None
            raise ended.error from None
        except DeliveryError:
            self._reset()
            raise
        except smtplib.SMTPResponseException as exc:
            self._reset()
            raise classify(exc.smtp_code, exc.smtp_error) from None
        except (*_CONNECTION_ERRORS, smtplib.SMTPException) as exc:
            _quietly_close(conn)
            self._conn = None
            reason = str(exc) or type(exc).__name__
            raise TransientDeliveryError(0, f"connection lost: {reason}") from None

    def _payload(self, conn: smtplib.SMTP, env: Envelope) -> bytes:
        """What goes after DATA on this connection: 8bit parts re-encoded to 7-bit for a
        relay that does not offer 8BITMIME (RFC 6152 forbids sending it 8bit)."""
        data = env.as_bytes()
        if env.eightbit and not env.smtputf8 and not conn.has_extn("8bitmime"):
            return dot_stuff(seven_bit(undot(data))) if env.wire_ready else seven_bit(data)
        return data

    def _options(self, conn: smtplib.SMTP, env: Envelope, size: int) -> list[str]:
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

    def _transact(self, conn: smtplib.SMTP, env: Envelope) -> str:
        data = self._payload(conn, env)
        options = self._options(conn, env, len(data))
        if env.wire_ready:
            return self._transact_raw(conn, env, data, options)
        code, reply = conn.mail(env.sender, options)
        if code != 250:
            raise classify(code, reply, "MAIL FROM")
        code, reply = conn.rcpt(env.recipient)
        if code not in (250, 251):
            raise classify(code, reply, "RCPT TO")
        code, reply = conn.data(data)
        if code != 250:
            raise classify(code, reply, "DATA")
        return f"{code} {_text(reply)}"

    def _transact_raw(self, conn: smtplib.SMTP, env: Envelope, data: bytes,
                      options: list[str]) -> str:
        """For data already in wire form (CRLF, dot-stuffed): no per-message regex
        passes over the body, and, where the relay offers PIPELINING (RFC 2920), MAIL,
        RCPT and DATA go out in one write: two round trips a message instead of four."""
        commands = [(f"MAIL FROM:<{env.sender}>{''.join(' ' + o for o in options)}",
                     "MAIL FROM"), (f"RCPT TO:<{env.recipient}>", "RCPT TO"), ("DATA", "DATA")]
        conn.command_encoding = "utf-8" if env.smtputf8 else "ascii"
        replies: list[tuple[int, bytes]] = []
        if conn.has_extn("pipelining"):
            conn.send("".join(c + "\r\n" for c, _ in commands))
            replies = [_reply(conn, stage) for _, stage in commands]
        else:
            for command, stage in commands:
                conn.putcmd(command)
                replies.append(_reply(conn, stage))
                if replies[-1][0] >= 400:
                    break
        (mail, mail_text), *rest = replies
        if len(rest) == 2 and rest[1][0] == 354 and (mail != 250 or rest[0][0] >= 300):
            conn.send(".\r\n")  # a server that opened DATA anyway: close it empty
            _reply(conn, "DATA")
        if mail != 250:
            raise classify(mail, mail_text, "MAIL FROM")
        rcpt, rcpt_text = rest[0]
        if rcpt not in (250, 251):
            raise classify(rcpt, rcpt_text, "RCPT TO")
        code, text = rest[1]
        if code != 354:
            raise classify(code, text, "DATA")
        assert conn.sock is not None
        conn.sock.sendall(data + (b".\r\n" if data.endswith(b"\r\n") else b"\r\n.\r\n"))
        code, text = _reply(conn, "DATA")
        if code != 250:
            raise classify(code, text, "DATA")
        return f"{code} {_text(text)}"

    def _commands(self, conn: smtplib.SMTP, env: Envelope, size: int) -> bytes:
        options = self._options(conn, env, size)
        line = (f"MAIL FROM:<{env.sender}>{''.join(' ' + o for o in options)}\r\n"
                f"RCPT TO:<{env.recipient}>\r\nDATA\r\n")
        return line.encode("utf-8" if env.smtputf8 else "ascii")

    def _send_pipelined(self, conn: smtplib.SMTP, envelopes: Sequence[Envelope],
                        results: list[SendResult], emit: Callable[[SendResult], None],
                        gate: Gate) -> DeliveryError | None:
        """One round trip a message (RFC 2920): each write carries the previous
        message's content and end-of-data with the next message's MAIL, RCPT and DATA,
        and the replies come back in that order. Results are emitted in order, each as
        soon as its reply is read. Returns the error that ended the session early."""
        pending: int | None = None  # its DATA got 354: its content goes out next
        payload = b""
        reset = False  # a MAIL was accepted for a message that then failed: RSET first
        index = first = len(results)
        awaiting: int | None = None  # whose reply we are reading
        assert conn.sock is not None
        try:
            while index < len(envelopes) or pending is not None:
                out = bytearray()
                if pending is not None:
                    awaiting = pending
                    out += payload + (b".\r\n" if payload.endswith(b"\r\n")
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
                        next_payload = self._payload(conn, env)
                        try:
                            out += self._commands(conn, env, len(next_payload))
                        except PermanentDeliveryError as exc:
                            held = exc
                    if held is not None:
                        refused = SendResult(env, "", held)
                        current = None
                    index += 1
                if out:
                    conn.sock.sendall(bytes(out))
                if pending is not None:
                    code, text = _reply(conn, "DATA")
                    self._carried = False
                    env = envelopes[pending]
                    emit(SendResult(env, f"{code} {_text(text)}") if code == 250
                         else SendResult(env, "", classify(code, text, "DATA")))
                    pending = awaiting = None
                if reset:
                    _reply(conn, "RSET")
                    reset = False
                if refused is not None:
                    emit(refused)
                if current is not None:
                    awaiting = current
                    (mail, mail_text), (rcpt, rcpt_text), (data_code, data_text) = (
                        _reply(conn, "MAIL FROM"), _reply(conn, "RCPT TO"),
                        _reply(conn, "DATA"))
                    self._carried = False
                    if mail == 250 and rcpt in (250, 251) and data_code == 354:
                        pending, payload = current, next_payload
                        continue
                    awaiting = None
                    if data_code == 354:  # opened anyway: close it empty
                        conn.sock.sendall(b".\r\n")
                        _reply(conn, "DATA")
                    error = (classify(mail, mail_text, "MAIL FROM") if mail != 250 else
                             classify(rcpt, rcpt_text, "RCPT TO") if rcpt not in (250, 251)
                             else classify(data_code, data_text, "DATA"))
                    emit(SendResult(envelopes[current], "", error))
                    reset = mail == 250
            if reset:
                _reply_to(conn, b"RSET\r\n")
            return None
        except _SessionEnded as ended:
            self._conn = None
            lost: DeliveryError = ended.error
        except (*_CONNECTION_ERRORS, smtplib.SMTPException) as exc:
            _quietly_close(conn)
            self._conn = None
            lost = TransientDeliveryError(0, f"connection lost: {exc or type(exc).__name__}")
        if awaiting is not None and awaiting == len(results) and not (
                self._carried and awaiting == first and lost.stage != "DATA"):
            emit(SendResult(envelopes[awaiting], "", lost))
        self._carried = False
        return lost

    def _reset(self) -> None:
        """After a refused message the session must be reset before the next one."""
        conn = self._conn
        if conn is None:
            return
        try:
            conn.rset()
        except (*_CONNECTION_ERRORS, smtplib.SMTPException):
            _quietly_close(conn)
            self._conn = None


def _reply_to(conn: smtplib.SMTP, command: bytes) -> tuple[int, bytes]:
    assert conn.sock is not None
    conn.sock.sendall(command)
    return _reply(conn, command.decode().strip())


def _quietly_close(conn: smtplib.SMTP | None) -> None:
    if conn is None:
        return
    with contextlib.suppress(OSError):
        conn.close()
