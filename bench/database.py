"""The database a benchmark runs on: SQLite in its temporary directory, or a scratch
database of its own on the PostgreSQL server given with --database-url."""

from __future__ import annotations

import argparse
from contextlib import ExitStack
from pathlib import Path

from mailer.db import scratch_database


def add_database_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--database-url", default=None,
                        help="a PostgreSQL server: the bench makes a database of its own "
                             "there and drops it afterwards (default SQLite in a temporary "
                             "directory)")


def bench_database(stack: ExitStack, server_url: str | None, var: Path, prefix: str
                   ) -> tuple[str, str]:
    """(kind, URL): `kind` is what the last line names (`sqlite` or `postgresql`); a
    PostgreSQL database is dropped when `stack` closes."""
    if server_url and server_url.startswith("postgres"):
        return "postgresql", stack.enter_context(scratch_database(server_url, prefix))
    return "sqlite", server_url or f"sqlite:///{var / 'mailer.db'}"
