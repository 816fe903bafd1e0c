"""The embedded stack's own servers: a private Redis that keeps what it was told when
asked to, and the API served from a thread that closes what it opened."""

from __future__ import annotations

import urllib.request
from collections.abc import Callable
from pathlib import Path

import redis

from mailer.config import Settings
from mailer.local.embedded import ApiServer, RedisServer
from mailer.web.app import create_app


def test_an_append_only_redis_keeps_its_data_across_a_restart(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis", append_only=True).start()
    client = redis.Redis(port=server.port)
    client.set("kept", "yes")
    server.stop()
    assert server.proc is None
    restarted = RedisServer(tmp_path / "redis", port=server.port, append_only=True).start()
    try:
        assert redis.Redis(port=restarted.port).get("kept") == b"yes"
    finally:
        restarted.stop()


def test_a_plain_redis_starts_empty(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis").start()
    redis.Redis(port=server.port).set("gone", "soon")
    server.stop()
    again = RedisServer(tmp_path / "redis", port=server.port).start()
    try:
        assert redis.Redis(port=again.port).get("gone") is None
    finally:
        again.stop()


def test_the_api_server_answers_and_stops(make_settings: Callable[..., Settings]) -> None:
    api = ApiServer(create_app(make_settings())).start()
    try:
        with urllib.request.urlopen(f"{api.url}/", timeout=5) as page:
            assert page.status == 200 and b"<html" in page.read()
    finally:
        api.stop()
    assert not api._thread.is_alive()
