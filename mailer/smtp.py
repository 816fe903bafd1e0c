"""SMTP backend: plain, STARTTLS or implicit TLS, with auth; one connection, many messages.

Every failure is classified once, here: a 4xx reply or a broken connection is
transient (try again later), a 5xx reply is permanent (retrying cannot help).
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
    RelayUnavailable,
    TransientDeliveryError,
)
from mailer.message import Envelope
from mailer.transport import Admit, EmailBackend, Gate, ResultHook, SendResult

_CONNECTION_ERRORS = (smtplib.SMTPServerDisconnected, OSError, ssl.SSLError, socket.timeout)


def _text(reply: bytes | str) -> str:
    if isinstance(reply, bytes):
        return reply.decode("utf-8", "replace")
    return reply


def classify(code: int, reply: bytes | str, stage: str = "") -> DeliveryError:
    """4xx (421, 450, 451, 452, 454, ...) and anything unexpected defer; 5xx fail."""
    text = f"{stage}: {_text(reply)}" if stage else _text(reply)
    if 400 <= code < 500:
        return TransientDeliveryError(code, text, stage)
    if code >= 500:
        return PermanentDeliveryError(code, text, stage)
    return TransientDeliveryError(code, text or "unexpected reply", stage)


class SmtpBackend(EmailBackend):
    def __init__(self, config: SmtpConfig, local_hostname: str | None = None) -> None:
        self.config = config
        self.local_hostname = local_hostname
        self._conn: smtplib.SMTP | None = None

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
            raise RelayUnavailable(exc.smtp_code, f"AUTH: {_text(exc.smtp_error)}",
                                   "connect") from None
        except smtplib.SMTPResponseException as exc:
            _quietly_close(conn)
            # Even a 5xx greeting is about the relay, not about any one message.
            raise RelayUnavailable(exc.smtp_code, f"connect: {_text(exc.smtp_error)}",
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

        if len(envelopes) > 1 and all(e.wire_ready for e in envelopes):
            try:
                self.open()
            except DeliveryError as exc:
                for env in envelopes:
                    emit(SendResult(env, "", exc))
                return results
            assert self._conn is not None
            if self._conn.has_extn("pipelining"):
                self._send_pipelined(self._conn, envelopes, emit, gate)
                return results
        for index, env in enumerate(envelopes):
            held = gate.check(env)
            if held is not None:
                emit(SendResult(env, "", held))
                continue
            try:
                reused = self._conn is not None
                self.open()
                try:
                    reply = self._send(env)
                except TransientDeliveryError:
                    if not reused or self._conn is not None:
                        raise
                    # The relay dropped a connection we had kept open (idle timeout,
                    # restart): one fresh connection before calling it a deferral.
                    self.open()
                    reply = self._send(env)
            except DeliveryError as exc:
                if self._conn is None:
                    # Connection gone: every message not yet tried waits for the next attempt.
                    for rest in envelopes[index:]:
                        emit(SendResult(rest, "", exc))
                    return results
                emit(SendResult(env, "", exc))
                continue
            emit(SendResult(env, reply))
        return results

    def _send(self, env: Envelope) -> str:
        conn = self._conn
        assert conn is not None
        try:
            return self._transact(conn, env)
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

    def _transact(self, conn: smtplib.SMTP, env: Envelope) -> str:
        options: list[str] = []
        if env.smtputf8:
            if not conn.has_extn("smtputf8"):
                raise PermanentDeliveryError(
                    0, "the relay does not support SMTPUTF8, needed for this address")
            options += ["SMTPUTF8", "BODY=8BITMIME"]
        elif env.eightbit and conn.has_extn("8bitmime"):
            options.append("BODY=8BITMIME")
        data = env.as_bytes()
        if conn.has_extn("size"):
            options.append(f"SIZE={len(data)}")
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
        commands = [f"MAIL FROM:<{env.sender}>{''.join(' ' + o for o in options)}",
                    f"RCPT TO:<{env.recipient}>", "DATA"]
        conn.command_encoding = "utf-8" if env.smtputf8 else "ascii"
        if conn.has_extn("pipelining"):
            conn.send("".join(c + "\r\n" for c in commands))
            replies = [conn.getreply() for _ in commands]
        else:
            replies = []
            for command in commands:
                conn.putcmd(command)
                replies.append(conn.getreply())
                if replies[-1][0] >= 400:
                    break
        (mail, mail_text), *rest = replies
        if len(rest) == 2 and rest[1][0] == 354 and (mail != 250 or rest[0][0] >= 300):
            conn.send(".\r\n")  # a server that opened DATA anyway: close it empty
            conn.getreply()
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
        code, text = conn.getreply()
        if code != 250:
            raise classify(code, text, "DATA")
        return f"{code} {_text(text)}"

    def _commands(self, conn: smtplib.SMTP, env: Envelope) -> bytes:
        options = []
        if env.smtputf8:
            options += ["SMTPUTF8", "BODY=8BITMIME"]
        elif env.eightbit and conn.has_extn("8bitmime"):
            options.append("BODY=8BITMIME")
        if conn.has_extn("size"):
            options.append(f"SIZE={len(env.as_bytes())}")
        line = (f"MAIL FROM:<{env.sender}>{''.join(' ' + o for o in options)}\r\n"
                f"RCPT TO:<{env.recipient}>\r\nDATA\r\n")
        return line.encode("utf-8" if env.smtputf8 else "ascii")

    def _send_pipelined(self, conn: smtplib.SMTP, envelopes: Sequence[Envelope],
                        emit: Callable[[SendResult], None], gate: Gate) -> None:
        """One round trip a message (RFC 2920): each write carries the previous
        message's content and end-of-data with the next message's MAIL, RCPT and DATA,
        and the replies come back in that order. Results are emitted in order, each as
        soon as its reply is read."""
        pending: int | None = None  # its DATA got 354: its content goes out next
        reset = False  # a MAIL was accepted for a message that then failed: RSET first
        index = emitted = 0
        assert conn.sock is not None
        try:
            while index < len(envelopes) or pending is not None:
                out = bytearray()
                if pending is not None:
                    data = envelopes[pending].as_bytes()
                    out += data + (b".\r\n" if data.endswith(b"\r\n") else b"\r\n.\r\n")
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
                    if held is None and env.smtputf8 and not conn.has_extn("smtputf8"):
                        held = PermanentDeliveryError(
                            0, "the relay does not support SMTPUTF8, needed for this address")
                    if held is not None:
                        refused = SendResult(env, "", held)
                        current = None
                    else:
                        out += self._commands(conn, env)
                    index += 1
                if out:
                    conn.sock.sendall(bytes(out))
                if pending is not None:
                    code, text = conn.getreply()
                    env = envelopes[pending]
                    emit(SendResult(env, f"{code} {_text(text)}") if code == 250
                         else SendResult(env, "", classify(code, text, "DATA")))
                    emitted += 1
                    pending = None
                if reset:
                    conn.getreply()
                    reset = False
                if refused is not None:
                    emit(refused)
                    emitted += 1
                if current is not None:
                    (mail, mail_text), (rcpt, rcpt_text), (data_code, data_text) = (
                        conn.getreply(), conn.getreply(), conn.getreply())
                    if mail == 250 and rcpt in (250, 251) and data_code == 354:
                        pending = current
                        continue
                    if data_code == 354:  # opened anyway: close it empty
                        conn.sock.sendall(b".\r\n")
                        conn.getreply()
                    error = (classify(mail, mail_text, "MAIL FROM") if mail != 250 else
                             classify(rcpt, rcpt_text, "RCPT TO") if rcpt not in (250, 251)
                             else classify(data_code, data_text, "DATA"))
                    emit(SendResult(envelopes[current], "", error))
                    emitted += 1
                    reset = mail == 250
            if reset:
                conn.rset()
        except (*_CONNECTION_ERRORS, smtplib.SMTPException) as exc:
            _quietly_close(conn)
            self._conn = None
            lost = TransientDeliveryError(0, f"connection lost: {exc or type(exc).__name__}")
            for env in envelopes[emitted:]:
                emit(SendResult(env, "", lost))

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


def _quietly_close(conn: smtplib.SMTP | None) -> None:
    if conn is None:
        return
    with contextlib.suppress(OSError):
        conn.close()
