from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import literal, select

from mailer.db import (
    SessionFactory,
    check_schema,
    make_engine,
    normalise_url,
    random_hex_id,
    upgrade,
)
from mailer.errors import ConfigError, ServiceUnavailable
from mailer.models import Base, new_id


def test_postgres_urls_mean_psycopg3() -> None:
    assert normalise_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_url("sqlite:///x.db") == "sqlite:///x.db"


def test_migrations_build_exactly_the_models(database_url: str) -> None:
    engine = make_engine(database_url)
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    check_schema(engine)
    engine.dispose()


def test_unmigrated_database_is_refused_with_the_fix(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'new' / 'fresh.db'}")
    with pytest.raises(ConfigError, match=r"fresh.db does not exist \(nor does its directory "
                                          r".*new\): check the path, or create the database "
                                          r"with `mailer db upgrade`"):
        check_schema(engine)
    assert not (tmp_path / "new").exists(), "checking creates nothing where a typo points"
    import sqlite3
    sqlite3.connect(tmp_path / "empty.db").close()
    empty = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(ConfigError, match=r"schema is at nothing.*run `mailer db upgrade`"):
        check_schema(empty)
    empty.dispose()
    upgrade(engine)
    upgrade(engine)  # a second run changes nothing
    check_schema(engine)
    engine.dispose()


def test_a_bad_sqlite_path_says_what_is_wrong(tmp_path: Path) -> None:
    """Issue 25: not "schema is at nothing" for a directory or a file of something else."""
    (tmp_path / "notes.db").write_text("not a database, but some notes\n" * 100)
    for name, wrong in ((".", "is a directory, not a database file"),
                        ("notes.db", "is not an SQLite database")):
        engine = make_engine(f"sqlite:///{tmp_path / name}")
        for step in (check_schema, upgrade):
            with pytest.raises(ConfigError, match=f"MAILER_DATABASE_URL: .* {wrong}$"):
                step(engine)
        engine.dispose()


def test_unreachable_postgres_is_service_unavailable() -> None:
    from mailer.local.embedded import free_port

    engine = make_engine(f"postgresql://nobody@127.0.0.1:{free_port()}/none?connect_timeout=2")
    with pytest.raises(ServiceUnavailable, match="the database is not answering"):
        check_schema(engine)


def test_unsupported_database_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="MAILER_DATABASE_URL: unsupported database"):
        make_engine("mysql://x@y/z")


def test_row_ids_are_unique_hex_in_the_order_they_were_made(sessions: SessionFactory) -> None:
    """Ours and the database's (rows planned from a SELECT) alike: 32 hex digits, time
    first, so each table's key index grows at its end."""
    first = new_id()
    time.sleep(0.002)
    with sessions() as session:
        made = session.execute(select(random_hex_id(session)).select_from(
            select(literal(1)).union_all(select(literal(2))).subquery())).scalars().all()
    time.sleep(0.002)
    last = new_id()
    ids = [first, *made, last]
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids), ids
    assert len(set(ids)) == 4
    assert first < min(made) and max(made) < last, ids
