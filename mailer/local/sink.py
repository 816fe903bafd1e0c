"""A local SMTP sink: accepts every message on loopback and stores it as an .eml file.

It is the embedded stand-in for a relay, so the demo and a newcomer's first run need
no mail server; the worker talks real SMTP to it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from mailer.sending.backends.file import write_eml


class OutboxHandler:
    def __init__(self, outbox: Path) -> None:
        self.outbox = outbox
        outbox.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        data = envelope.original_content or envelope.content or b""
        if isinstance(data, str):
            data = data.encode("utf-8")
        written = [write_eml(self.outbox, data, str(envelope.mail_from), rcpt)
                   for rcpt in envelope.rcpt_tos]
        if any(path is None for path in written):
            return "451 4.3.0 cannot store the message, try again later"
        return f"250 2.0.0 OK queued as {','.join(p.name for p in written if p)}"


def start_sink(outbox: Path, host: str = "127.0.0.1", port: int = 8025,
               handler: Any | None = None, **smtp_options: Any) -> Controller:
    """Starts the sink in a background thread; `controller.stop()` ends it."""
    controller = Controller(handler or OutboxHandler(outbox), hostname=host, port=port,
                            enable_SMTPUTF8=True, **smtp_options)
    controller.start()
    return controller
