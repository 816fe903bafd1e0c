"""SMTP backend: plain, STARTTLS or implicit TLS, with auth; one connection, many messages.

Every reply is classified by the one reply policy (mailer/sending/replies.py). A session the
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
    RelayRefused,
    RelayUnavailable,
    TransientDeliveryError,
)
from mailer.sending.backends.base import (
    EmailBackend,
    ResultHook,
    SendResult,
    SlotCheck,
    WaitForSlot,
)
from mailer.sending.message import Envelope
from mailer.sending.pipelining import PipelinedSession
from mailer.sending.smtp_wire import (
    CONNECTION_ERRORS,
    SessionEnded,
    classify,
    mail_options,
    payload,
    quietly_close,
    read_reply,
    text_of,
)

# New sessions one send_messages call may open after the relay ended one (421): the
# messages behind the one that drew it go again on each, up to this many times.
SESSION_RESTARTS = 3


class SmtpBackend(EmailBackend):
    def __init__(self, config: SmtpConfig, local_hostname: str | None = None) -> None:
        self.config = config
        self.local_hostname = local_hostname
        self._conn: smtplib.SMTP | None = None
        # The connection was opened by an earlier call and has sat idle since: if the
        # relay has dropped it, the first message deserves one fresh connection.
        self._reused_connection = False

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
            quietly_close(conn)
            # The relay refused our credentials: an operator must fix the settings, but
            # the mail itself is fine, so it waits (transient) rather than failing.
            raise RelayRefused(exc.smtp_code, f"AUTH: {text_of(exc.smtp_error)}",
                               "connect") from None
        except smtplib.SMTPResponseException as exc:
            quietly_close(conn)
            # Even a 5xx greeting is about the relay, not about any one message.
            kind = RelayRefused if exc.smtp_code >= 500 else RelayUnavailable
            raise kind(exc.smtp_code, f"connect: {text_of(exc.smtp_error)}",
                       "connect") from None
        except (*CONNECTION_ERRORS, smtplib.SMTPException) as exc:
            quietly_close(conn)
            raise RelayUnavailable(
                0, f"cannot connect to {cfg.host}:{cfg.port}: {exc or type(exc).__name__}"
            ) from None
        if conn.sock is not None:
            # Commands and replies alternate: Nagle's algorithm would only hold a
            # paced message's commands back until the previous write is acknowledged.
            with contextlib.suppress(OSError):
                conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._conn = conn
        self._reused_connection = False

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.quit()
        except (*CONNECTION_ERRORS, smtplib.SMTPException):
            quietly_close(conn)

    def send_messages(self, envelopes: Sequence[Envelope], on_result: ResultHook | None = None,
                      wait_for_slot: WaitForSlot | None = None) -> list[SendResult]:
        results: list[SendResult] = []
        slots = SlotCheck(wait_for_slot)

        def emit(result: SendResult) -> None:
            if on_result is not None:
                try:
                    on_result(len(results), result)
                except BaseException:
                    # The caller gave up mid-session (its database went away): the
                    # session's state is unknown, so it is not reused.
                    quietly_close(self._conn)
                    self._conn = None
                    raise
            results.append(result)

        self._reused_connection = self._conn is not None
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
                ended = PipelinedSession(self._conn, envelopes[len(results):], slots, emit,
                                         self._reused_connection).run().ended
                if ended is not None:
                    self._conn = None
                self._reused_connection = False
            else:
                ended = self._send_each(envelopes, results, emit, slots)
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
                   emit: Callable[[SendResult], None], slots: SlotCheck) -> DeliveryError | None:
        """One message at a time, from the first without a result. Returns the error
        that ended the session early, if one did."""
        for env in envelopes[len(results):]:
            held = slots.throttled(env)
            if held is not None:
                emit(SendResult(env, "", held))
                continue
            reused = self._reused_connection
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
                self._reused_connection = False
                emit(SendResult(env, "", exc))
                if self._conn is None:
                    return exc
                continue
            self._reused_connection = False
            emit(SendResult(env, reply))
        return None

    def _send(self, env: Envelope) -> str:
        conn = self._conn
        assert conn is not None
        try:
            return self._transact(conn, env)
        except SessionEnded as ended:
            self._conn = None
            raise ended.error from None
        except DeliveryError:
            self._reset()
            raise
        except smtplib.SMTPResponseException as exc:
            self._reset()
            raise classify(exc.smtp_code, exc.smtp_error) from None
        except (*CONNECTION_ERRORS, smtplib.SMTPException) as exc:
            quietly_close(conn)
            self._conn = None
            reason = str(exc) or type(exc).__name__
            raise TransientDeliveryError(0, f"connection lost: {reason}") from None

    def _transact(self, conn: smtplib.SMTP, env: Envelope) -> str:
        data = payload(conn, env)
        options = mail_options(conn, env, len(data))
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
        return f"{code} {text_of(reply)}"

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
            replies = [read_reply(conn, stage) for _, stage in commands]
        else:
            for command, stage in commands:
                conn.putcmd(command)
                replies.append(read_reply(conn, stage))
                if replies[-1][0] >= 400:
                    break
        (mail, mail_text), *rest = replies
        if len(rest) == 2 and rest[1][0] == 354 and (mail != 250 or rest[0][0] >= 300):
            conn.send(".\r\n")  # a server that opened DATA anyway: close it empty
            read_reply(conn, "DATA")
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
        code, text = read_reply(conn, "DATA")
        if code != 250:
            raise classify(code, text, "DATA")
        return f"{code} {text_of(text)}"

    def _reset(self) -> None:
        """After a refused message the session must be reset before the next one."""
        conn = self._conn
        if conn is None:
            return
        try:
            conn.rset()
        except (*CONNECTION_ERRORS, smtplib.SMTPException):
            quietly_close(conn)
            self._conn = None
