"""RFC 3464 delivery status notifications: one record per recipient, with its Action,
Status (RFC 3463) and the remote server's Diagnostic-Code."""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_RECIPIENTS = 1000
STATUS = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
_FIELD = re.compile(r"^([A-Za-z][A-Za-z0-9-]{0,40})\s*:\s?(.*)$")
# A dot-atom local part, or a quoted one (RFC 5321: "two..dots"@example.com is only valid
# quoted, and the MTA reports it so).
ADDRESS = re.compile(r"(?:\"[^\"\s\\]{1,62}\"|[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64})"
                     r"@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")


@dataclass(frozen=True)
class DsnRecord:
    address: str
    original: str
    action: str
    status: str | None
    diagnostic: str


def fields(block: str) -> dict[str, str]:
    """The fields of one block, continuation lines unfolded, by lower-cased name."""
    found: dict[str, str] = {}
    name = ""
    for line in block.splitlines():
        if line[:1] in (" ", "\t") and name:
            found[name] = f"{found[name]} {line.strip()}"
            continue
        match = _FIELD.match(line)
        if match is None:
            name = ""
            continue
        name = match.group(1).lower()
        if name not in found:
            found[name] = match.group(2).strip()
    return found


def blocks(text: str) -> list[dict[str, str]]:
    return [fields(b) for chunk in re.split(r"\n[ \t]*\n", text.replace("\r\n", "\n"))
            for b in _recipient_blocks(chunk) if b.strip()]


_RECIPIENT_FIELD = re.compile(r"^(?:final|original)-recipient\s*:", re.IGNORECASE)
_ACTION_FIELD = re.compile(r"^action\s*:", re.IGNORECASE)


def _recipient_blocks(chunk: str) -> list[str]:
    """Some MTAs (AOL's relay among them) write every recipient's fields with no blank
    line between them: a recipient field in a block that already has a recipient and an
    Action starts the next recipient (Amazon writes Action first, so either order)."""
    found: list[list[str]] = [[]]
    named = acted = False
    for line in chunk.split("\n"):
        recipient = bool(_RECIPIENT_FIELD.match(line))
        if recipient and named and acted:
            found.append([])
            acted = False
        named = named or recipient
        acted = acted or bool(_ACTION_FIELD.match(line))
        found[-1].append(line)
    return ["\n".join(lines) for lines in found]


# Quotes and `=` left before an address by the text around it; not the `=` that opens an
# encoded word used as a local part (=?utf-8?B?...?=@example.org is what was mailed).
_PREFIX = re.compile(r"^(?:smtp|rfc822|mailto|sip)[=:]|^(?:['`]|=(?!\?))+", re.IGNORECASE)
# Actions other than these (failed, and the nonstandard error, failure, expired) mean
# the message was given up on.
NOT_FAILED = ("delayed", "delivered", "relayed", "expanded", "deliverable")


def clean(address: str) -> str:
    """An address as found in text, lower-cased, without quotes or an `smtp=` prefix."""
    return _PREFIX.sub("", address).strip(".'`").lower()


def address_of(value: str) -> str:
    """`rfc822; <User@Example.COM>` -> `user@example.com` (empty when there is none)."""
    found = ADDRESS.search(value.partition(";")[2] or value)
    return clean(found.group(0)) if found else ""


def status_of(status_field: str, diagnostic: str) -> str | None:
    """The Status, or the diagnostic's more specific code when the Status says only
    x.0.0 (as Sisimai reads it) or is missing."""
    given = STATUS.search(status_field)
    told = STATUS.search(diagnostic)
    if given is None:
        return ".".join(told.groups()) if told else None
    code = ".".join(given.groups())
    if told and given.group(2) == "0" and given.group(3) == "0" \
            and told.group(1) == given.group(1):
        return ".".join(told.groups())
    return code


def one_line(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text[:limit]


def records(texts: list[str]) -> list[DsnRecord]:
    """Every per-recipient record in the delivery-status texts given."""
    found: list[DsnRecord] = []
    for text in texts:
        for block in blocks(text):
            record = _record(block)
            if record is not None:
                found.append(record)
            if len(found) >= MAX_RECIPIENTS:
                return found
    return found


def _record(block: dict[str, str]) -> DsnRecord | None:
    final = address_of(block.get("final-recipient", ""))
    original = address_of(block.get("original-recipient", ""))
    address = final or original or address_of(block.get("x-actual-recipient", ""))
    if not address:
        return None
    diagnostic = block.get("diagnostic-code", "")
    diagnostic = one_line(diagnostic.partition(";")[2] if ";" in diagnostic[:12] else diagnostic)
    status = status_of(block.get("status", ""), diagnostic)
    action = block.get("action", "").strip().lower().split(" ")[0] if block.get("action") else ""
    if not action:
        action = "delayed" if status and status.startswith("4") else "failed"
    elif action not in NOT_FAILED:
        action = "failed"
    return DsnRecord(address, original, action, status, diagnostic)
