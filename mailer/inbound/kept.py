"""The returned mail kept for a person (`mailer inbound unknown`): what the intake could
not read (var/inbound/unknown) and what it failed on (var/inbound/failed, to be fed
again with `mailer inbound read < FILE` once the cause is fixed)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email.header import decode_header, make_header
from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path


@dataclass(frozen=True)
class KeptMessage:
    file: Path
    kept_at: datetime
    sender: str
    subject: str


def kept_messages(directory: Path) -> list[KeptMessage]:
    """Newest first; a directory that does not exist yet holds nothing."""
    found = []
    for path in directory.glob("*.eml"):
        try:
            stat = path.stat()
            with path.open("rb") as raw:
                head = raw.read(64 * 1024)
        except OSError:  # taken away while we looked
            continue
        headers = BytesHeaderParser(policy=compat32).parsebytes(head)
        found.append(KeptMessage(path, datetime.fromtimestamp(stat.st_mtime, UTC),
                                 _text(headers.get("from")), _text(headers.get("subject"))))
    return sorted(found, key=lambda kept: (kept.kept_at, kept.file.name), reverse=True)


def _text(value: object) -> str:
    """A header as a person reads it, whatever its encoding claims."""
    if value is None:
        return ""
    try:
        text = str(make_header(decode_header(str(value))))
    except (ValueError, LookupError, UnicodeError):
        text = str(value)
    return " ".join(text.split())[:300]
