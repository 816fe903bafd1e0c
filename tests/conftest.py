"""Real parts for the tests: a redis-server process, an aiosmtpd server, a database.

Everything listens on free loopback ports and is stopped at the end; nothing here
needs a system Redis or mail server. The database is a SQLite file, and also
PostgreSQL when MAILER_TEST_DATABASE_URL names one (`.ci/run` sets it where
PostgreSQL runs): tests that take the `sessions` fixture run against each.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis
from sqlalchemy import text

from mailer.config import Settings, load_settings
from mailer.db import (
    SessionFactory,
    make_engine,
    scratch_database,
    session_factory,
    upgrade,
)
from mailer.local.embedded import RedisServer, free_port
from mailer.local.sink import start_sink
from mailer.models import Base
from mailer.newsletters.model import default_newsletters
from mailer.newsletters.store import NewsletterStore
from tests.support.rabbitmq import rabbitmq_vhost
from tests.support.smtp import RecordingHandler

TEST_SECRET = "test-secret-key-0123456789"
# For tests that post many shares from one client and sender; flood control has its own.
NO_FLOOD_LIMITS = {name: "none" for name in (
    "share_limit_per_ip", "share_limit_per_sender", "share_limit_per_recipient",
    "share_limit_per_article", "share_limit_total", "signup_limit_per_ip")}
POSTGRES_URL = os.environ.get("MAILER_TEST_DATABASE_URL", "")
BACKENDS = ["sqlite", "postgresql"] if POSTGRES_URL else ["sqlite"]
TABLES = tuple(table.name for table in reversed(Base.metadata.sorted_tables))  # every one


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests build their settings explicitly; the developer's MAILER_* must not leak in."""
    for name in list(os.environ):
        if name.startswith("MAILER_") and name != "MAILER_REDIS_SERVER":
            monkeypatch.delenv(name)


# The brokers the queue tests run on: Redis always, RabbitMQ where one answers.
BROKERS = ["redis", "rabbitmq"]


@pytest.fixture(params=BROKERS)
def broker_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """MAILER_BROKER_URL for a test that runs on each broker: empty (the queue in the
    test's Redis), then a RabbitMQ vhost of the test's own (skipped, with the reason,
    where RabbitMQ is not to be had)."""
    if request.param == "redis":
        yield ""
        return
    with rabbitmq_vhost() as url:
        yield url


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture
def redis_client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    """Database 1, emptied before each test (the end-to-end tests use database 0)."""
    client = redis.Redis(port=redis_server.port, db=1)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture(scope="session")
def smtp_handler() -> RecordingHandler:
    return RecordingHandler()


@pytest.fixture(scope="session")
def smtp_port(smtp_handler: RecordingHandler, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[int]:
    port = free_port()
    controller = start_sink(tmp_path_factory.mktemp("unused"), port=port, handler=smtp_handler)
    yield port
    controller.stop()


@pytest.fixture
def smtp(smtp_handler: RecordingHandler, smtp_port: int) -> RecordingHandler:
    smtp_handler.clear()
    return smtp_handler


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A database of its own on the PostgreSQL server, dropped at the end."""
    if not POSTGRES_URL:
        pytest.skip("MAILER_TEST_DATABASE_URL is not set")
    with scratch_database(POSTGRES_URL, "mailer_test") as url:
        yield url


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request: pytest.FixtureRequest) -> str:
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(name))


def empty_tables(url: str) -> None:
    """Every table emptied, and the newsletters every site starts with put back."""
    engine = make_engine(url)
    with engine.begin() as conn:
        for table in TABLES:
            conn.execute(text(f"DELETE FROM {table}"))
    newsletters = NewsletterStore(session_factory(engine))
    for newsletter in default_newsletters():
        newsletters.add(newsletter)
    engine.dispose()


@contextmanager
def empty_database(url: str) -> Iterator[SessionFactory]:
    empty_tables(url)
    engine = make_engine(url)
    yield session_factory(engine)
    engine.dispose()


def backend_sessions(request: pytest.FixtureRequest, backend: str
                     ) -> Iterator[SessionFactory]:
    """For fixtures with backends among other params (a dynamic parametrised fixture
    cannot be asked for by name)."""
    url = request.getfixturevalue("sqlite_url" if backend == "sqlite" else "postgres_url")
    with empty_database(str(url)) as sessions:
        yield sessions


@pytest.fixture
def sessions(database_url: str) -> Iterator[SessionFactory]:
    """An empty, migrated database: SQLite, and PostgreSQL too when configured."""
    with empty_database(database_url) as factory:
        yield factory


@pytest.fixture
def make_settings(tmp_path: Path, redis_server: RedisServer, smtp_port: int,
                  sqlite_url: str) -> Callable[..., Settings]:
    """Settings on the session's Redis (database 1), SMTP server and an emptied SQLite."""
    empty_tables(sqlite_url)

    def build(**overrides: object) -> Settings:
        values: dict[str, object] = {
            "redis_url": f"redis://127.0.0.1:{redis_server.port}/1",
            "smtp_url": f"smtp://127.0.0.1:{smtp_port}?timeout=5",
            "database_url": sqlite_url,
            "var_dir": tmp_path / "var",
            "secret_key": TEST_SECRET,
        }
        values.update(overrides)
        return load_settings(**values)

    return build
