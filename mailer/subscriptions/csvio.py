"""Subscriber lists as CSV: import with per-row errors, export for the operator."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TextIO

from mailer.errors import InvalidInput
from mailer.subscriptions.store import (
    Preferences,
    SectionCatalog,
    SignUp,
    Subscriber,
    validate_signup,
)

COLUMNS = ("email", "name", "sections", "timezone", "hour")
EXPORT_COLUMNS = (*COLUMNS, "status", "created_at", "confirmed_at")


@dataclass(frozen=True)
class RowError:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


def read_subscribers(stream: TextIO, catalog: SectionCatalog, default: Preferences
                     ) -> tuple[list[SignUp], list[RowError]]:
    """Good rows and the reasons for the bad ones; one bad row never stops the rest.

    Columns by header name: email (required), name, sections (names or slugs separated
    by commas, semicolons or |), timezone, hour. Empty cells take the defaults.
    """
    reader = csv.DictReader(stream)
    if not reader.fieldnames or "email" not in [f.strip().lower() for f in reader.fieldnames]:
        raise InvalidInput({"csv": "the first line must be a header with an 'email' column"})
    good: list[SignUp] = []
    bad: list[RowError] = []
    for row in reader:
        fields = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()
                  if isinstance(v, str)}
        fields["sections"] = fields.get("sections", "").replace(";", ",").replace("|", ",")
        try:
            good.append(validate_signup(fields, catalog, default=default))
        except InvalidInput as exc:
            bad.append(RowError(reader.line_num, str(exc)))
    return good, bad


def write_subscribers(stream: TextIO, subscribers: Iterable[Subscriber]) -> int:
    writer = csv.writer(stream)
    writer.writerow(EXPORT_COLUMNS)
    count = 0
    for s in subscribers:
        writer.writerow([s.email, s.name, ",".join(s.preferences.sections),
                         s.preferences.timezone, s.preferences.hour, s.status.value,
                         s.created_at.isoformat(),
                         s.confirmed_at.isoformat() if s.confirmed_at else ""])
        count += 1
    return count
