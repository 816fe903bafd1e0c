"""The one reply policy: what an SMTP answer means for the message, for the reader it
was addressed to and for the relay. Shares, confirmations and digests all go through
`classify` (the SMTP backend, reply by reply); mailer/delivery/verdict.py turns the
error it gives into what the ledger records, so no two paths can disagree on whom to
blame.

Enhanced status codes (RFC 3463) are read first, the basic code second. Where a reply
is ambiguous, the rule chosen is the one that never blames a reader for our own or the
relay's configuration: only a reply that says the mailbox is gone suppresses an
address. The table in docs/guarantees.md ("What a relay's reply does") is this module.
"""

from __future__ import annotations

import re

from mailer.errors import (
    DeliveryError,
    PermanentDeliveryError,
    RelayRefused,
    TransientDeliveryError,
)

_ENHANCED = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})(?!\d)")
# What relays say when they refuse to relay for us: Postfix's "Relay access denied",
# Exchange's "Client was not authenticated", SES's "Access denied", "Authentication
# required" and their kin.
_RELAY_TEXT = re.compile(
    r"relay(ing)?\s+(access\s+)?(denied|not\s+(permitted|allowed))|access\s+denied|"
    r"authenticat\w*\s+(is\s+)?required|not\s+authenticated|must\s+authenticate|"
    r"authentication\s+(failed|credentials)|sender\s+address\s+rejected",
    re.IGNORECASE)
# Enhanced codes that are about our credentials, our sender or the relay's own policy
# towards us, whatever the text (RFC 3463, RFC 4954, RFC 7372).
_RELAY_CODES = {(7, 0), (7, 8), (7, 9), (7, 11), (7, 12), (7, 13), (7, 14),
                (1, 7), (1, 8)}  # 5.1.7/5.1.8: the *sender's* address is bad
_RELAY_BASIC = {530, 534, 535, 538}  # RFC 4954: authentication required or failed
_MAILBOX_GONE = {(1, 0), (1, 1), (1, 2), (1, 3), (1, 6), (1, 10), (2, 1)}
_MAILBOX_FULL = {(2, 2)}
_TOO_BIG = {(2, 3), (3, 4)}
_ENVELOPE_STAGES = ("MAIL FROM", "RCPT TO", "connect")


def enhanced_code(text: str) -> tuple[int, int, int] | None:
    """The RFC 3463 status at the head of a reply's text (`5.1.1 User unknown`)."""
    found = _ENHANCED.match(text)
    if found is None:
        return None
    klass, subject, detail = (int(g) for g in found.groups())
    return klass, subject, detail


def classify(code: int, text: str, stage: str = "") -> DeliveryError:
    """The error an SMTP reply is: transient (deferred), permanent (failed, with
    `hard_bounce` when the mailbox is gone) or `RelayRefused` (our configuration)."""
    full = f"{stage}: {text}" if stage else text
    enhanced = enhanced_code(text)
    klass = enhanced[0] if enhanced and enhanced[0] in (4, 5) else code // 100
    subject_detail = enhanced[1:] if enhanced else None
    if _relay_fault(code, klass, subject_detail, text, stage):
        return RelayRefused(code, full, stage)
    if klass == 5 and subject_detail in _MAILBOX_FULL:
        # Full today, perhaps emptied tomorrow: soft, whatever the class says.
        return TransientDeliveryError(code, full, stage)
    if klass == 5 or (enhanced is None and code >= 500):
        return PermanentDeliveryError(code, full, stage,
                                      hard_bounce=_mailbox_gone(code, subject_detail, stage))
    return TransientDeliveryError(code, full or "unexpected reply", stage)


def _relay_fault(code: int, klass: int, subject_detail: tuple[int, int] | None, text: str,
                 stage: str) -> bool:
    if code in _RELAY_BASIC:
        return True
    if stage not in _ENVELOPE_STAGES or klass not in (4, 5):
        return False
    if klass == 5 and subject_detail in _RELAY_CODES:
        return True
    if stage == "MAIL FROM" and klass == 5 and subject_detail not in _TOO_BIG \
            and code != 552:
        # A permanent refusal of our own sender is never the reader's doing.
        return True
    return bool(_RELAY_TEXT.search(text))


def _mailbox_gone(code: int, subject_detail: tuple[int, int] | None, stage: str) -> bool:
    if subject_detail is not None:
        return subject_detail in _MAILBOX_GONE
    # No enhanced code: at RCPT, 550 (mailbox unavailable), 551 (not local) and 553
    # (mailbox name not allowed) are about the address; 552 and 554 are not.
    return stage == "RCPT TO" and code in (550, 551, 553)
