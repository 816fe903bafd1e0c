"""Importing a list of active subscribers in bulk, at any size, in flat memory.

The list is streamed into a staging table (COPY on PostgreSQL, batched inserts on
SQLite) and merged into `subscribers` by one `INSERT ... SELECT ... ON CONFLICT`: a
handful of statements whatever the length, where a lookup per 500 addresses inside
one long transaction grew quadratic on PostgreSQL (172 s for 100,000). The merge never
resubscribes an address that has unsubscribed: re-importing an old list must not undo
an unsubscribe.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

from mailer.db import SessionFactory, refresh_statistics, transaction
from mailer.models import UTCDateTime, utcnow
from mailer.subscriptions.model import ImportReport, SignUp, email_key

_SQLITE_BATCH = 5000
_STAGING_COLUMNS = "seq, email, email_key, name, sections, timezone, hour"


def import_active(sessions: SessionFactory, signups: Iterable[SignUp]) -> ImportReport:
    """Insert or update every sign-up as active, in one transaction; the last line for
    an address wins. Unsubscribed addresses stay unsubscribed; a pending one becomes
    active (the list's owner holds the consent)."""
    with transaction(sessions) as session:
        postgres = session.get_bind().dialect.name == "postgresql"
        if not postgres:
            # Take SQLite's write lock first (waiting up to busy_timeout): a transaction
            # that reads `subscribers` and only then writes fails at once ("database is
            # locked") if a worker committed in between, whatever the timeout.
            session.execute(text("UPDATE subscribers SET id = id WHERE 1 = 0"))
        session.execute(text("DROP TABLE IF EXISTS import_subscribers"))
        session.execute(text(
            "CREATE TEMP TABLE import_subscribers (seq bigint, email text, email_key text,"
            " name text, sections text, timezone text, hour int)"))
        rows = _staging_rows(signups)
        if postgres:
            _copy_in(session, rows)
        else:
            _insert_in_batches(session, rows)
        # The latest line per address, indexed for the merge's lookups.
        session.execute(text("DROP TABLE IF EXISTS import_latest"))
        session.execute(text(
            f"CREATE TEMP TABLE import_latest AS SELECT {_STAGING_COLUMNS} FROM ("
            f" SELECT {_STAGING_COLUMNS}, row_number() OVER"
            " (PARTITION BY email_key ORDER BY seq DESC) AS latest FROM import_subscribers"
            ") ranked WHERE latest = 1"))
        added, updated, kept = session.execute(text(
            "SELECT coalesce(sum(CASE WHEN s.status IS NULL THEN 1 ELSE 0 END), 0),"
            " coalesce(sum(CASE WHEN s.status <> 'unsubscribed' THEN 1 ELSE 0 END), 0),"
            " coalesce(sum(CASE WHEN s.status = 'unsubscribed' THEN 1 ELSE 0 END), 0)"
            " FROM import_latest i LEFT JOIN subscribers s ON s.email_key = i.email_key"
        )).one()
        session.execute(_merge(postgres), {"now": utcnow()})
        session.execute(text("DROP TABLE import_subscribers"))
        session.execute(text("DROP TABLE import_latest"))
    with transaction(sessions) as session:
        refresh_statistics(session, "subscribers")
    return ImportReport(int(added), int(updated), int(kept))


def _staging_rows(signups: Iterable[SignUp]) -> Iterator[tuple[Any, ...]]:
    for seq, signup in enumerate(signups):
        yield (seq, signup.email, email_key(signup.email), signup.name,
               ",".join(signup.preferences.sections), signup.preferences.timezone,
               signup.preferences.hour)


def _copy_in(session: Session, rows: Iterator[tuple[Any, ...]]) -> None:
    raw = session.connection().connection.driver_connection
    assert raw is not None
    with raw.cursor() as cursor, \
            cursor.copy(f"COPY import_subscribers ({_STAGING_COLUMNS}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _insert_in_batches(session: Session, rows: Iterator[tuple[Any, ...]]) -> None:
    raw = session.connection().connection.driver_connection
    assert raw is not None
    cursor = raw.cursor()
    try:
        while batch := list(islice(rows, _SQLITE_BATCH)):
            cursor.executemany(
                f"INSERT INTO import_subscribers ({_STAGING_COLUMNS}) VALUES (?,?,?,?,?,?,?)",
                batch)
    finally:
        cursor.close()


def _merge(postgres: bool) -> Any:
    new_id = ("replace(gen_random_uuid()::text, '-', '')" if postgres
              else "lower(hex(randomblob(16)))")
    # `WHERE true`: SQLite reads ON CONFLICT after a bare SELECT ... FROM as a join.
    return text(f"""
        INSERT INTO subscribers (id, email, email_key, name, sections, timezone, hour,
                                 status, created_at, updated_at, confirmed_at)
        SELECT {new_id}, email, email_key, name, sections, timezone, hour, 'active',
               :now, :now, :now
        FROM import_latest WHERE true ORDER BY email_key
        ON CONFLICT (email_key) DO UPDATE SET
            email = excluded.email, name = excluded.name, sections = excluded.sections,
            timezone = excluded.timezone, hour = excluded.hour, status = 'active',
            updated_at = excluded.updated_at,
            confirmed_at = coalesce(subscribers.confirmed_at, excluded.confirmed_at)
        WHERE subscribers.status <> 'unsubscribed'
    """).bindparams(bindparam("now", type_=UTCDateTime()))
