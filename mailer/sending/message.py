"""MIME messages: what goes over the wire, built from rendered parts and addresses."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime
from uuid import uuid4

from mailer.sending.mime import address_header, alternative, dot_stuff, fold, seven_bit, undot

# CRLF line ends, long lines folded; switched to utf8 at send time only when an
# address needs SMTPUTF8 (see `Envelope.smtputf8`).
MESSAGE_POLICY = policy.SMTP

# The envelope sender for a message, by its ledger id: the From address, or with
# MAILER_BOUNCE_ADDRESS a return path that names the message (VERP, mailer.tokens).
ReturnPath = Callable[[str], str]


@dataclass(frozen=True)
class RenderedEmail:
    """A message's parts as the templates made them, before MIME."""

    subject: str
    html: str
    text: str
    # RFC 2369/8058: where a mail app's unsubscribe button goes, with one click.
    list_unsubscribe: str = ""


@dataclass(frozen=True)
class Envelope:
    """One message for one recipient: the unit every backend sends and reports on."""

    message: EmailMessage | bytes  # bytes: already encoded (digests are spliced, not built)
    sender: str
    recipient: str
    smtputf8: bool = False
    eightbit: bool = False  # the encoded body has 8bit parts: ask for BODY=8BITMIME
    wire_ready: bool = False  # bytes already CRLF and dot-stuffed: sent as they are
    # The same message in 7-bit, in the form `as_bytes` gives, for a relay without
    # 8BITMIME, where its maker has a faster or a signed way to it (see `as_7bit`).
    seven_bit: Callable[[], bytes] | None = field(default=None, compare=False, repr=False)
    # For DKIM, where its maker has them cheaper than from the bytes: where the body
    # begins in `as_bytes` and the SHA-256 of its relaxed form (`RelaxedBody.digest`);
    # None if it has not.
    relaxed_body_hash: Callable[[], tuple[int, bytes] | None] | None = field(
        default=None, compare=False, repr=False)

    def as_bytes(self) -> bytes:
        """What goes after DATA (dot-stuffed if `wire_ready`)."""
        if isinstance(self.message, bytes):
            return self.message
        return self.message.as_bytes(policy=MESSAGE_POLICY.clone(utf8=self.smtputf8))

    def as_7bit(self) -> bytes:
        """What goes after DATA to a relay that does not offer 8BITMIME."""
        if self.seven_bit is not None:
            return self.seven_bit()
        data = self.as_bytes()
        return dot_stuff(seven_bit(undot(data))) if self.wire_ready else seven_bit(data)

    def content(self) -> bytes:
        """The message itself, as a mailbox or an .eml file holds it."""
        data = self.as_bytes()
        return undot(data) if self.wire_ready else data


def build_message(*, rendered: RenderedEmail, from_addr: tuple[str, str],
                  to_addr: tuple[str, str], reply_to: tuple[str, str] | None, domain: str,
                  utf8: bool = False) -> bytes:
    """The message in wire form (CRLF, dot-stuffed); addresses as (name, address).
    `utf8`: the message goes with SMTPUTF8, so headers may carry UTF-8."""
    # ASCII address headers unfolded: a name is at most 100 characters, well inside
    # SMTP's 998.
    head = [address_header("From", *from_addr, utf8=utf8),
            address_header("To", *to_addr, utf8=utf8)]
    if reply_to is not None:
        head.append(address_header("Reply-To", *reply_to, utf8=utf8))
    head += [fold("Subject", rendered.subject),
             f"Date: {format_datetime(datetime.now(UTC))}\r\n".encode(),
             # A random id, like the digests': make_msgid's time.pid.random digits are
             # one of the patterns spam filters score.
             f"Message-ID: <{uuid4().hex}@{domain}>\r\n".encode()]
    if rendered.list_unsubscribe:
        head += [fold("List-Unsubscribe", f"<{rendered.list_unsubscribe}>"),
                 b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"]
    return dot_stuff(b"".join(head) + alternative(rendered.text, rendered.html))
