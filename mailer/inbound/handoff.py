"""Handing a received message to the intake, for every way mail comes in (the SMTP/LMTP
receiver, Postfix's pipe). What the sending side may be told depends on one thing:
is the message safe with us? Taken by the intake, or written to disk when the intake
failed: yes. The database away, or the disk refusing the copy: no, and the sender
must keep it and try again (SMTP 451, pipe exit 75). Accepted mail is never lost.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from uuid import uuid4

from mailer.errors import ServiceUnavailable
from mailer.inbound.intake import FeedbackIntake, Taken

LOGGER = logging.getLogger("mailer.inbound")


@dataclass(frozen=True)
class Handed:
    """One recipient's message: what the intake made of it, or, when the intake
    failed, where the message was kept for a person (and for `mailer inbound read`)."""

    recipient: str
    taken: Taken | None
    kept_as: Path | None = None


class Handoff:
    def __init__(self, intake: FeedbackIntake, failed_dir: Path) -> None:
        self._intake = intake
        self._failed_dir = failed_dir

    def hand(self, raw: bytes, recipient: str | None) -> Handed:
        """Raises ServiceUnavailable (the database is away) and OSError (the intake
        failed and the message could not be kept either): the sender keeps it."""
        try:
            return Handed(recipient or "", self._intake.take(raw, envelope_to=recipient))
        except ServiceUnavailable:
            raise
        except Exception:  # a message that breaks the intake is kept, never lost
            LOGGER.exception("the intake failed on a message to %s; keeping it", recipient)
            return Handed(recipient or "", None, keep(self._failed_dir, raw, recipient or ""))


def keep(directory: Path, raw: bytes, recipient: str) -> Path:
    """The message on disk, flushed, before anyone is told it was taken: atomically
    (a temporary name, then a rename) so a reader never sees half of one."""
    directory.mkdir(parents=True, exist_ok=True)
    name = f"{uuid4().hex}.eml"
    tmp = directory / f".{name}.tmp"
    try:
        with tmp.open("wb") as out:
            line = " ".join(recipient.split())
            out.write(f"X-Envelope-To: {line}\r\n".encode("utf-8", "replace"))
            out.write(raw)
            out.flush()
            os.fsync(out.fileno())
        final = directory / name
        tmp.replace(final)
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        return final
    except OSError:
        tmp.unlink(missing_ok=True)
        raise
