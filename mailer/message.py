"""MIME messages: what goes over the wire, built from rendered parts and addresses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage
from email.utils import format_datetime
from uuid import uuid4

from mailer.render import RenderedEmail
from mailer.validation import ShareRequest

# CRLF line ends, long lines folded; switched to utf8 at send time only when an
# address needs SMTPUTF8 (see `Envelope.smtputf8`).
MESSAGE_POLICY = policy.SMTP


@dataclass(frozen=True)
class Envelope:
    """One message for one recipient: the unit every backend sends and reports on."""

    message: EmailMessage | bytes  # bytes: already encoded (digests are spliced, not built)
    sender: str
    recipient: str
    smtputf8: bool = False
    eightbit: bool = False  # the encoded body has 8bit parts: ask for BODY=8BITMIME
    wire_ready: bool = False  # bytes already CRLF and dot-stuffed: sent as they are

    def as_bytes(self) -> bytes:
        """What goes after DATA (dot-stuffed if `wire_ready`)."""
        if isinstance(self.message, bytes):
            return self.message
        return self.message.as_bytes(policy=MESSAGE_POLICY.clone(utf8=self.smtputf8))

    def content(self) -> bytes:
        """The message itself, as a mailbox or an .eml file holds it."""
        data = self.as_bytes()
        return data.replace(b"\r\n..", b"\r\n.") if self.wire_ready else data


def _is_ascii(text: str) -> bool:
    return text.isascii()


def build_message(*, rendered: RenderedEmail, from_addr: HeaderAddress, to_addr: HeaderAddress,
                  reply_to: HeaderAddress | None, domain: str,
                  extra_headers: dict[str, str] | None = None) -> EmailMessage:
    msg = EmailMessage(policy=MESSAGE_POLICY)
    msg["From"] = from_addr
    msg["To"] = to_addr
    if reply_to is not None:
        msg["Reply-To"] = reply_to
    msg["Subject"] = rendered.subject
    msg["Date"] = format_datetime(datetime.now(UTC))
    # A random id, like the digests': make_msgid's time.pid.random digits are one of
    # the patterns spam filters score.
    msg["Message-ID"] = f"<{uuid4().hex}@{domain}>"
    for name, value in (extra_headers or {}).items():
        msg[name] = value
    msg.set_content(rendered.text, subtype="plain", charset="utf-8")
    msg.add_alternative(rendered.html, subtype="html", charset="utf-8")
    return msg


def build_share_envelope(rendered: RenderedEmail, share: ShareRequest, *, site_name: str,
                         from_email: str, domain: str) -> Envelope:
    """From is always the site's own address (the reader's would fail DMARC); the
    reader's name is the display name and the reader is Reply-To."""
    local, _, host = from_email.rpartition("@")
    sender_header = HeaderAddress(display_name=f"{share.sender.name} via {site_name}",
                                  username=local, domain=host)
    msg = build_message(
        rendered=rendered,
        from_addr=sender_header,
        to_addr=share.friend.header(),
        reply_to=share.sender.header(),
        domain=domain,
    )
    needs_utf8 = share.friend.smtputf8 or share.sender.smtputf8 or not _is_ascii(from_email)
    return Envelope(message=msg, sender=from_email, recipient=share.friend.email,
                    smtputf8=needs_utf8)
