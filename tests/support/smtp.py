"""A real SMTP server for tests (aiosmtpd on loopback) that records what it receives
and can be told to answer chosen recipients with chosen replies."""

from __future__ import annotations

import asyncio
import email
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage

from aiosmtpd.smtp import SMTP, Envelope, Session


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    smtputf8: bool
    at: float = 0.0  # time.monotonic() when the message was taken
    mail_options: tuple[str, ...] = ()

    @property
    def message(self) -> EmailMessage:
        msg = email.message_from_bytes(self.data, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        return msg


class RecordingHandler:
    def __init__(self, pipelining: bool = False, delay: float = 0.0,
                 eightbitmime: bool = True) -> None:
        self.pipelining = pipelining
        self.eightbitmime = eightbitmime  # False: a relay that does not offer 8BITMIME
        self.delay = delay  # seconds before each DATA reply: a slow relay
        self._lock = threading.Lock()
        self.received: list[Received] = []
        self.attempts: defaultdict[str, int] = defaultdict(int)  # DATA, per recipient
        self.rcpt_attempts: defaultdict[str, int] = defaultdict(int)
        self._script: dict[str, list[str]] = {}
        self.refuse_rcpt: dict[str, str] = {}  # address -> reply at RCPT TO
        self._domain_script: dict[str, list[str]] = {}
        self.quits = 0  # sessions the client closed with QUIT

    def script(self, recipient: str, *replies: str) -> None:
        """Answer the next DATA transactions to `recipient` with these replies, in order;
        after them, accept."""
        with self._lock:
            self._script[recipient] = list(replies)

    def script_domain(self, domain: str, *replies: str) -> None:
        """Answer the next DATA transactions to any address at `domain` with these
        replies, in order (a provider throttling us); after them, accept."""
        with self._lock:
            self._domain_script[domain] = list(replies)

    def for_recipient(self, recipient: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if recipient in r.rcpt_tos]

    def clear(self) -> None:
        with self._lock:
            self.received.clear()
            self.attempts.clear()
            self.rcpt_attempts.clear()
            self._script.clear()
            self._domain_script.clear()
            self.refuse_rcpt.clear()
            self.quits = 0

    async def handle_QUIT(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self._lock:
            self.quits += 1
        return "221 Bye"

    async def handle_EHLO(self, server: SMTP, session: Session, envelope: Envelope,
                          hostname: str, responses: list[str]) -> list[str]:
        session.host_name = hostname
        if self.pipelining:  # aiosmtpd reads commands in order, so it can take them
            responses.insert(1, "250-PIPELINING")
        if not self.eightbitmime:
            responses = [r for r in responses if "8BITMIME" not in r]
        return responses

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        with self._lock:
            self.rcpt_attempts[address] += 1
        refusal = self.refuse_rcpt.get(address)
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        rcpt = envelope.rcpt_tos[0]
        with self._lock:
            self.attempts[rcpt] += 1
            replies = self._script.get(rcpt) or self._domain_script.get(
                rcpt.rpartition("@")[2].lower())
            if replies:
                return replies.pop(0)
            data = envelope.original_content or b""
            self.received.append(Received(
                str(envelope.mail_from), tuple(envelope.rcpt_tos), bytes(data),
                "SMTPUTF8" in (envelope.mail_options or []), time.monotonic(),
                tuple(envelope.mail_options or ()),
            ))
        return "250 2.0.0 OK recorded"
