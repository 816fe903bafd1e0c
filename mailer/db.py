"""The database: engines, sessions, upserts and migrations.

SQLite (a file under var/) is the embedded default; PostgreSQL through psycopg 3 when
MAILER_DATABASE_URL points to one. Schema changes go through Alembic only.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, NoReturn
from uuid import uuid4

from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    Engine,
    Integer,
    String,
    any_,
    bindparam,
    cast,
    create_engine,
    event,
    func,
    make_url,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DatabaseError, OperationalError, ProgrammingError, SQLAlchemyError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql import coercions, roles
from sqlalchemy.sql._typing import ColumnExpressionArgument
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.visitors import InternalTraversal

from mailer.errors import ConfigError, ServiceUnavailable

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def normalise_url(url: str) -> str:
    """`postgresql://` means psycopg 3 here, not SQLAlchemy's default psycopg2."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def make_engine(url: str, *, durable_commits: bool = True) -> Engine:
    """`durable_commits=False`: on PostgreSQL a commit returns before its WAL is
    flushed to disk, as SQLite's WAL mode with synchronous=NORMAL (below) always
    does. For the delivery ledger alone, whose rows come back after a database crash
    (docs/guarantees.md); subscribers and unsubscribes keep durable commits."""
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if parsed.get_backend_name() == "postgresql":
        options = {} if durable_commits else {
            "connect_args": {"options": "-c synchronous_commit=off"}}
        return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5, **options)
    raise ConfigError(f"MAILER_DATABASE_URL: unsupported database {parsed.get_backend_name()!r} "
                      "(use sqlite:/// or postgresql://)")


def _sqlite_pragmas(dbapi_connection: Any, record: Any) -> None:
    # WAL lets the API read while a worker writes; busy_timeout makes writers queue
    # instead of failing at once when several processes share the file. A checkpoint
    # every 10,000 pages (40 MB) rather than SQLite's 1,000: each costs two fsyncs,
    # which stalled the writers queued behind it (a digest ran 2,300 e-mails/s with
    # 1,000, 3,000 with 10,000, docs/benchmarks.md); the WAL file is cut back to 64 MB
    # after one.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA wal_autocheckpoint=10000")
    cursor.execute("PRAGMA journal_size_limit=67108864")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


SessionFactory = sessionmaker[Session]


def session_factory(engine: Engine) -> SessionFactory:
    return sessionmaker(engine, expire_on_commit=False)


# The sessions `together` opened in this thread or task, by factory: a `transaction` on
# the same factory inside one joins it instead of committing on its own.
_TOGETHER: ContextVar[dict[int, Session] | None] = ContextVar("mailer_together", default=None)


@contextmanager
def together(sessions: SessionFactory) -> Iterator[Session]:
    """One transaction for everything written through `sessions` inside the block,
    whichever store writes it (as Django's nested `atomic` blocks join the outer one):
    for work that must commit whole, and for one commit where there were several."""
    joined = _TOGETHER.get() or {}
    if id(sessions) in joined:
        yield joined[id(sessions)]
        return
    with transaction(sessions) as session:
        token = _TOGETHER.set({**joined, id(sessions): session})
        try:
            yield session
        finally:
            _TOGETHER.reset(token)


@contextmanager
def transaction(sessions: SessionFactory) -> Iterator[Session]:
    """A session in a transaction: committed on success, rolled back on error, with a
    database that does not answer reported as ServiceUnavailable. Inside `together`
    on the same factory, that transaction."""
    joined = _TOGETHER.get()
    if joined is not None and id(sessions) in joined:
        yield joined[id(sessions)]
        return
    try:
        with sessions.begin() as session:
            yield session
    except OperationalError as exc:
        raise ServiceUnavailable(f"the database is not answering: {exc.orig or exc}") from None
    except ProgrammingError as exc:
        if getattr(exc.orig, "sqlstate", None) not in _SCHEMA_MISSING:
            raise
        raise ServiceUnavailable("the database's tables are not the ones this version "
                                 "expects (run `mailer db upgrade`)") from None


# PostgreSQL's undefined table, column and function: a schema changed or dropped under a
# running service is the operator's to fix, an outage rather than a bug (SQLite reports
# the same as OperationalError).
_SCHEMA_MISSING = frozenset({"42P01", "42703", "42883"})


def upsert(session: Session, table: Any, rows: Sequence[dict[str, Any]], key: Sequence[str],
           update: Sequence[str]) -> None:
    """INSERT ... ON CONFLICT (key) DO UPDATE, on SQLite and PostgreSQL alike."""
    if not rows:
        return
    stmt = _insert(session, table)
    # executemany with one cached statement: SQLAlchemy batches it into multi-row
    # INSERTs ("insertmanyvalues") without compiling a new statement per batch.
    session.execute(stmt.on_conflict_do_update(
        index_elements=list(key), set_={c: getattr(stmt.excluded, c) for c in update}),
        list(rows))


def insert_ignore(session: Session, table: Any, rows: Sequence[dict[str, Any]],
                  key: Sequence[str], returning: str) -> list[Any]:
    """INSERT ... ON CONFLICT (key) DO NOTHING; the `returning` column of the rows that
    were new."""
    if not rows:
        return []
    stmt = _insert(session, table).on_conflict_do_nothing(index_elements=list(key))
    return list(session.execute(stmt.returning(table.c[returning]), list(rows)).scalars())


def random_hex_id(session: Session) -> Any:
    """A new 32-hex-digit id made by the database, for rows inserted from a SELECT:
    as `new_id`, the milliseconds since 1970 then 80 random bits."""
    if session.get_bind().dialect.name == "postgresql":
        millis = cast(func.extract("epoch", func.clock_timestamp()) * 1000, BigInteger)
        return func.lpad(func.to_hex(millis), 12, "0", type_=String) + func.substr(
            func.replace(cast(func.gen_random_uuid(), String), "-", ""), 1, 20)
    millis = cast((func.julianday("now") - 2440587.5) * 86400000, Integer)
    return func.printf("%012x", millis, type_=String) + func.lower(
        func.hex(func.randomblob(10)))


class InList(ColumnElement[bool]):
    """`column IN` the list of values bound as `name` (a list, whatever its length):
    a batch's hundreds of ids. SQLite gets an expanding `IN (?, ?, ...)`; PostgreSQL
    `column = ANY(:name)`, one array parameter. There an expanding list made a
    statement of 12 kB, which psycopg does not cache (over 4 kB) and re-parsed, with
    SQLAlchemy rendering a cast per value, at every batch: a tenth of a worker's
    samples in a digest run."""

    inherit_cache = True
    type = Boolean()
    _is_implicitly_boolean = True  # a comparison already: SQLite gets no `= 1` after it
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement),  # noqa: RUF012
                           ("name", InternalTraversal.dp_string)]

    def __init__(self, column: ColumnExpressionArgument[Any], name: str) -> None:
        self.column: ColumnElement[Any] = coercions.expect(roles.ExpressionElementRole, column)
        self.name = name


@compiles(InList)
def _expanding_in(element: InList, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.column.in_(bindparam(element.name, expanding=True)), **kw)


@compiles(InList, "postgresql")
def _any_of_array(element: InList, compiler: SQLCompiler, **kw: Any) -> str:
    values = bindparam(element.name, type_=postgresql.ARRAY(element.column.type))
    return compiler.process(element.column == any_(values), **kw)


def insert_select_ignore(session: Session, table: Any, columns: Sequence[str], source: Any,
                         key: Sequence[str], returning: str) -> list[Any]:
    """INSERT ... SELECT ... ON CONFLICT (key) DO NOTHING: the database makes the rows;
    the `returning` column of those that were new."""
    stmt = _insert(session, table).from_select(list(columns), source) \
        .on_conflict_do_nothing(index_elements=list(key)).returning(table.c[returning])
    return list(session.execute(stmt).scalars())


def refresh_statistics(session: Session, table: str) -> None:
    """After a bulk write on PostgreSQL, before autovacuum gets to it (a minute or
    more): with statistics from when the table was nearly empty, a batch's claim of
    500 rows by primary key was planned as a scan of every queued row (20 ms against
    5 ms a batch at 50,000 rows, worse as the table grows). SQLite plans these by key
    without statistics."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"ANALYZE {table}"))


def _insert(session: Session, table: Any) -> sqlite.Insert | postgresql.Insert:
    """The dialect's INSERT, which knows ON CONFLICT."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def _alembic_config(engine: Engine) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine) -> None:
    from alembic import command

    path = sqlite_path(engine)
    if path is not None:
        if path.is_dir():
            raise ConfigError(f"MAILER_DATABASE_URL: {path} is a directory, not a database file")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)  # a new database's home
        except OSError as exc:
            raise ConfigError(f"MAILER_DATABASE_URL: cannot create the directory "
                              f"{path.parent}: {exc.strerror}") from None
    try:
        command.upgrade(_alembic_config(engine), "head")
    except DatabaseError as exc:
        _refuse_a_bad_file(path, exc, migrating=True)
        raise ServiceUnavailable(f"the database is not answering: {exc.orig or exc}") from None


def check_schema(engine: Engine) -> None:
    """Refuse to start on a database that is behind the code: a clear line beats the
    first query failing in production."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config(engine)).get_current_head()
    path = sqlite_path(engine)
    wrong = sqlite_file_problem(path) if path is not None else None
    if wrong:
        raise ConfigError(f"MAILER_DATABASE_URL: {wrong}")
    try:
        with engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
    except DatabaseError as exc:
        _refuse_a_bad_file(path, exc)
    except SQLAlchemyError as exc:
        raise ServiceUnavailable(f"the database is not answering: {exc}") from None
    if current != head:
        raise ConfigError(f"MAILER_DATABASE_URL: schema is at {current or 'nothing'}, the code "
                          f"needs {head}: run `mailer db upgrade`")


def sqlite_path(engine: Engine) -> Path | None:
    """The file of an SQLite database (None: another database, or one in memory)."""
    name = engine.url.database
    if engine.url.get_backend_name() != "sqlite" or not name or name == ":memory:" \
            or name.startswith("file:"):
        return None
    return Path(name)


def sqlite_file_problem(path: Path) -> str | None:
    """What is wrong with the file a service is to open, in words, before SQLite says
    "unable to open database file" or creates an empty one where a typo points."""
    if path.is_dir():
        return f"{path} is a directory, not a database file"
    if not path.exists():
        where = "" if path.parent.is_dir() else f" (nor does its directory {path.parent})"
        return (f"{path} does not exist{where}: check the path, or create the database "
                "with `mailer db upgrade`")
    if not os.access(path, os.R_OK | os.W_OK):
        return f"{path} is not readable and writable by this user"
    if not os.access(path.parent, os.W_OK):
        return (f"the directory {path.parent} is not writable by this user (SQLite keeps "
                "its -wal and -shm files next to the database)")
    return None


def _refuse_a_bad_file(path: Path | None, exc: DatabaseError, *,
                       migrating: bool = False) -> NoReturn:
    """A file that is not an SQLite database is a setting to fix (exit 2), not a
    database that is away. Otherwise the database is not answering (an error of a
    migration itself, not the connection's, is raised as it is)."""
    if path is not None and "not a database" in str(exc.orig or exc):
        raise ConfigError(f"MAILER_DATABASE_URL: {path} is not an SQLite database") from None
    if migrating and not isinstance(exc, OperationalError):
        raise exc
    raise ServiceUnavailable(f"the database is not answering: {exc.orig or exc}") from None


@contextmanager
def scratch_database(server_url: str, prefix: str) -> Iterator[str]:
    """A new database on the PostgreSQL server at `server_url`, migrated, dropped
    afterwards: for the tests and benchmarks, which must not touch anyone's data."""
    server = make_url(normalise_url(server_url))
    name = f"{prefix}_{uuid4().hex[:8]}"
    admin = make_engine(server.render_as_string(hide_password=False))
    try:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = server.set(database=name).render_as_string(hide_password=False)
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url
    finally:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
