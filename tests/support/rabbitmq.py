"""RabbitMQ for the tests that run on both brokers: a virtual host of their own on the
local server, made with `rabbitmqctl` and deleted afterwards, so parallel runs and
earlier tests share no queue, no message and no worker's remote-control exchange.

`MAILER_TEST_RABBITMQ_URL` names a server elsewhere instead (its vhost is then the
test run's own, taken as it is). Where no RabbitMQ answers, or no vhost can be made,
the RabbitMQ variants skip, saying why."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

import pytest
from kombu import Connection

LOCAL = "amqp://guest:guest@127.0.0.1:5672/"
GIVEN = os.environ.get("MAILER_TEST_RABBITMQ_URL", "")


@cache
def unavailable() -> str | None:
    """Why the RabbitMQ variants cannot run here; None when they can."""
    url = GIVEN or LOCAL
    try:
        with Connection(url, connect_timeout=2) as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, timeout=3)
    except Exception as exc:  # any failure to connect is the reason to skip
        return f"RabbitMQ is not answering at {url.split('@')[-1]} ({exc})"
    if GIVEN:
        return None
    if shutil.which("rabbitmqctl") is None and not os.access("/usr/sbin/rabbitmqctl", os.X_OK):
        return "no rabbitmqctl to make a vhost of the tests' own (set MAILER_TEST_RABBITMQ_URL)"
    return None


def _rabbitmqctl(*args: str) -> None:
    command = shutil.which("rabbitmqctl") or "/usr/sbin/rabbitmqctl"
    done = subprocess.run([command, "-q", *args], capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        pytest.skip(f"rabbitmqctl {args[0]} failed: {done.stderr.strip()[:200]}")


@contextmanager
def rabbitmq_vhost() -> Iterator[str]:
    """The URL of an empty vhost on the local RabbitMQ, deleted with everything in it
    at the end; skips the test with the reason where there is none to be had."""
    reason = unavailable()
    if reason:
        pytest.skip(reason)
    if GIVEN:
        yield GIVEN
        return
    name = f"mailer-test-{os.getpid()}-{secrets.token_hex(4)}"
    _rabbitmqctl("add_vhost", name)
    try:
        _rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
        yield LOCAL + name
    finally:
        _rabbitmqctl("delete_vhost", name)
