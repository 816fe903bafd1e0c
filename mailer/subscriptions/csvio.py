"""Subscriber lists as CSV: import with per-row errors, export for the operator."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TextIO

from mailer.errors import InvalidInput
from mailer.subscriptions.model import (
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


class SubscriberCsv:
    """The good rows of a subscriber CSV, read as they are iterated (memory stays flat
    whatever the file's size), with each bad row's reason given to `on_error` as it is
    met; one bad row never stops the rest.

    Columns by header name: email (required), name, sections (names or slugs separated
    by commas, semicolons or |), timezone, hour. Empty cells take the defaults.
    """

    def __init__(self, stream: TextIO, catalog: SectionCatalog, default: Preferences,
                 on_error: Callable[[RowError], None]) -> None:
        self._reader = csv.DictReader(stream)
        if not self._reader.fieldnames or \
                "email" not in [f.strip().lower() for f in self._reader.fieldnames]:
            raise InvalidInput({"csv": "the first line must be a header with an 'email' "
                                       "column"})
        self._catalog, self._default, self._on_error = catalog, default, on_error
        self.good = self.bad = 0

    def __iter__(self) -> Iterator[SignUp]:
        for row in self._reader:
            fields = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()
                      if isinstance(v, str)}
            fields["sections"] = fields.get("sections", "").replace(";", ",").replace("|", ",")
            try:
                signup = validate_signup(fields, self._catalog, default=self._default)
            except InvalidInput as exc:
                self.bad += 1
                self._on_error(RowError(self._reader.line_num, str(exc)))
                continue
            self.good += 1
            yield signup


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
