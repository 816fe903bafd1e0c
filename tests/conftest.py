"""Real parts for the tests: a redis-server process, an aiosmtpd server, settings.

Everything listens on free loopback ports and is stopped at the end; nothing here
needs a system Redis or mail server.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from mailer.config import Settings, load_settings
from mailer.embedded import RedisServer, free_port
from mailer.sink import start_sink
from tests.support.smtp import RecordingHandler


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests build their settings explicitly; the developer's MAILER_* must not leak in."""
    for name in list(os.environ):
        if name.startswith("MAILER_") and name != "MAILER_REDIS_SERVER":
            monkeypatch.delenv(name)


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


@pytest.fixture
def make_settings(tmp_path: Path, redis_server: RedisServer, smtp_port: int):  # type: ignore[no-untyped-def]
    def build(**overrides: object) -> Settings:
        values: dict[str, object] = {
            "redis_url": f"redis://127.0.0.1:{redis_server.port}/1",
            "smtp_url": f"smtp://127.0.0.1:{smtp_port}?timeout=5",
            "var_dir": tmp_path / "var",
        }
        values.update(overrides)
        return load_settings(**values)

    return build
