"""The SMTP or LMTP server that the bounce domain's MX, or Postfix's transport map,
hands returned mail to (`mailer inbound serve`).

It takes mail only for our own mailboxes (never a relay), bounds what one client can
send and how many talk at once, and answers only once the message is safe: taken by
the intake, or kept on disk. The intake runs in worker threads, so a slow database
holds up no other client; when it is away the answer is 451 and the sending MTA keeps
the message. LMTP answers once per recipient, as the protocol asks.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, Envelope, Session

from mailer.errors import ServiceUnavailable
from mailer.inbound.handoff import Handoff

LOGGER = logging.getLogger("mailer.inbound")
# Seconds a client may stay silent, per command (RFC 5321 4.5.3.2 asks servers for
# five minutes on DATA; a returning MTA that needs longer will try again).
IDLE_SECONDS = 300
TAKEN = "250 2.0.0 Ok: taken"
TRY_LATER = "451 4.3.0 Cannot take mail now; try again later"


@dataclass(frozen=True)
class Mailboxes:
    """The addresses mail is taken for: each with any +tag, in any case."""

    addresses: frozenset[str]

    @classmethod
    def of(cls, *addresses: str) -> Mailboxes:
        return cls(frozenset(a.lower() for a in addresses if a))

    def accepts(self, address: str) -> bool:
        local, at, domain = address.rpartition("@")
        if not at:
            return False
        return f"{local.split('+', 1)[0]}@{domain}".lower() in self.addresses


@dataclass(frozen=True)
class Limits:
    max_bytes: int
    max_clients: int
    idle_seconds: float = IDLE_SECONDS


class _Clients:
    """How many clients are being served; touched only on the event loop's thread."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open = 0


class _Capped:
    """One client too many is told 421 at connect, before it sends anything."""

    _clients: _Clients

    async def _handle_client(self) -> None:
        server: Any = self
        if self._clients.open >= self._clients.limit:
            await server.push("421 4.7.0 Too many connections; try again later")
            server.transport.close()
            return
        self._clients.open += 1
        try:
            await super()._handle_client()  # type: ignore[misc]
        finally:
            self._clients.open -= 1


class CappedSMTP(_Capped, SMTP):
    def __init__(self, handler: Any, clients: _Clients, **options: Any) -> None:
        super().__init__(handler, **options)
        self._clients = clients


class CappedLMTP(_Capped, LMTP):
    def __init__(self, handler: Any, clients: _Clients, **options: Any) -> None:
        super().__init__(handler, **options)
        self._clients = clients


class ReceiverHandler:
    """aiosmtpd's hooks: who may be written to, and what became of each message."""

    def __init__(self, handoff: Handoff, mailboxes: Mailboxes, *, lmtp: bool,
                 threads: ThreadPoolExecutor) -> None:
        self._handoff = handoff
        self._mailboxes = mailboxes
        self._lmtp = lmtp
        self._threads = threads

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if not self._mailboxes.accepts(address):
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        loop = asyncio.get_running_loop()
        replies = [await loop.run_in_executor(self._threads, self._take, raw, rcpt)
                   for rcpt in envelope.rcpt_tos]
        if self._lmtp:
            return "\r\n".join(replies)
        return TRY_LATER if TRY_LATER in replies else TAKEN

    async def handle_exception(self, error: Exception) -> str:
        LOGGER.exception("inbound session failed", exc_info=error)
        return "421 4.3.0 Internal error; try again later"

    def _take(self, raw: bytes, recipient: str) -> str:
        try:
            self._handoff.hand(raw, recipient)
        except ServiceUnavailable as exc:
            LOGGER.warning("answered 451 to a message for %s: %s", recipient, exc)
            return TRY_LATER
        except OSError as exc:
            LOGGER.error("could not keep a message for %s: %s", recipient, exc)
            return TRY_LATER
        return TAKEN


class Receiver(Controller):
    """The server on one address, in a thread of its own: `start()`, `stop()`."""

    def __init__(self, handoff: Handoff, mailboxes: Mailboxes, limits: Limits, *,
                 host: str, port: int, lmtp: bool = False, hostname: str | None = None,
                 threads: int = 4, reuse_port: bool = False) -> None:
        """`reuse_port`: other processes listen on the same port (SO_REUSEPORT), and
        the kernel spreads connections over them."""
        self._reuse_port = reuse_port
        self._threads = ThreadPoolExecutor(threads, thread_name_prefix="inbound")
        self._clients = _Clients(limits.max_clients)
        self._lmtp = lmtp
        handler = ReceiverHandler(handoff, mailboxes, lmtp=lmtp, threads=self._threads)
        super().__init__(handler, hostname=host, port=port, server_hostname=hostname,
                         data_size_limit=limits.max_bytes, timeout=limits.idle_seconds,
                         enable_SMTPUTF8=True)

    def _create_server(self) -> Any:
        return self.loop.create_server(self._factory_invoker, host=self.hostname,
                                       port=self.port, ssl=self.ssl_context,
                                       reuse_port=self._reuse_port or None)

    def factory(self) -> SMTP:
        protocol = CappedLMTP if self._lmtp else CappedSMTP
        return protocol(self.handler, self._clients, **self.SMTP_kwargs)

    def stop(self, no_assert: bool = False) -> None:
        super().stop(no_assert)
        self._threads.shutdown(wait=True)
