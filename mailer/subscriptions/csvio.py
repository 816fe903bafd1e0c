"""Subscriber lists as CSV: import with per-row errors, export for the operator.

A cell a spreadsheet would run as a formula (one starting with =, +, -, @, a tab or a
carriage return: OWASP's CSV-injection advice) is written with a leading apostrophe,
which spreadsheets show as text; reading a file back takes that apostrophe off again,
so an export imports as it was. Names come from the public sign-up form: they are the
cells an attacker would use.
"""

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
FIELD_MAX = 2000  # characters in one cell: more is no subscriber field, and is reported
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
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
    by commas, semicolons or |), timezone, hour, and status when the file is an export:
    only `active` rows (or rows without a status) are imported as active, since a
    pending sign-up has not confirmed and an unsubscribed one said no. Empty cells take
    the defaults.
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
        while True:
            try:
                row = next(self._reader)
            except StopIteration:
                return
            except csv.Error as exc:  # e.g. a field past the csv module's own limit
                # Raised before the reader counts the line it was reading.
                self._refuse(f"not a CSV row the import can read ({exc})", line_ahead=1)
                continue
            signup = self._signup(row)
            if signup is not None:
                self.good += 1
                yield signup

    def _signup(self, row: dict[str | None, str | list[str] | None]) -> SignUp | None:
        fields = {(k or "").strip().lower(): as_text((v or "").strip()) for k, v in row.items()
                  if isinstance(v, str)}
        if any(len(value) > FIELD_MAX for value in fields.values()):
            self._refuse(f"a field is longer than {FIELD_MAX} characters")
            return None
        status = fields.pop("status", "").lower()
        if status not in ("", "active"):
            self._refuse(f"not imported: the row's status is {status[:20]!r}; only active "
                         "subscribers are imported (a pending sign-up confirms itself)")
            return None
        fields["sections"] = fields.get("sections", "").replace(";", ",").replace("|", ",")
        try:
            return validate_signup(fields, self._catalog, default=self._default)
        except InvalidInput as exc:
            self._refuse(str(exc))
            return None

    def _refuse(self, message: str, line_ahead: int = 0) -> None:
        self.bad += 1
        self._on_error(RowError(self._reader.line_num + line_ahead, message))


def write_subscribers(stream: TextIO, subscribers: Iterable[Subscriber]) -> int:
    writer = csv.writer(stream)
    writer.writerow(EXPORT_COLUMNS)
    count = 0
    for s in subscribers:
        writer.writerow([as_cell(s.email), as_cell(s.name), ",".join(s.preferences.sections),
                         s.preferences.timezone, s.preferences.hour, s.status.value,
                         s.created_at.isoformat(),
                         s.confirmed_at.isoformat() if s.confirmed_at else ""])
        count += 1
    return count


def as_cell(value: str) -> str:
    """What a spreadsheet will show as text, never run as a formula."""
    return f"'{value}" if value.startswith(_FORMULA_START) else value


def as_text(cell: str) -> str:
    """A cell as it was before `as_cell`."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(_FORMULA_START) else cell
