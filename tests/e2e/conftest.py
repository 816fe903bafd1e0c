"""The whole pipeline on real parts: uvicorn serving the API, a real `celery worker`
process, the session's redis-server and the recording aiosmtpd server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mailer.config import Settings, load_settings
from mailer.db import make_engine, upgrade
from mailer.local.embedded import ApiServer, RedisServer, WorkerProcess, worker_env
from mailer.web.app import create_app
from tests.conftest import NO_FLOOD_LIMITS, TEST_SECRET

# Deferred shares retried within a 3-second horizon.
FAST_RETRIES = {"retry_horizon_hours": 3 / 3600, "retry_base_seconds": 0.3,
                "retry_max_seconds": 1.0}
PUBLIC_URL = "https://news.example.test"


@pytest.fixture(scope="session")
def e2e_settings(redis_server: RedisServer, smtp_port: int,
                 tmp_path_factory: pytest.TempPathFactory) -> Settings:
    var = tmp_path_factory.mktemp("var")
    settings = load_settings(redis_url=redis_server.url, secret_key=TEST_SECRET,
                             smtp_url=f"smtp://127.0.0.1:{smtp_port}?timeout=5",
                             var_dir=var, public_url=PUBLIC_URL, confirm_resend_seconds=0,
                             **FAST_RETRIES, **NO_FLOOD_LIMITS)
    engine = make_engine(settings.database)
    upgrade(engine)
    engine.dispose()
    return settings


def settings_env(settings: Settings) -> dict[str, str]:
    return worker_env(settings)


@pytest.fixture(scope="session")
def worker(e2e_settings: Settings) -> Iterator[WorkerProcess]:
    proc = WorkerProcess(settings_env(e2e_settings), e2e_settings.var_dir / "worker.log",
                         concurrency=2).start()
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def api(e2e_settings: Settings, worker: WorkerProcess) -> Iterator[httpx.Client]:
    server = ApiServer(create_app(e2e_settings)).start()
    with httpx.Client(base_url=server.url, timeout=10) as client:
        yield client
    server.stop()


def wait_for_job(api: httpx.Client, job_id: str, until: set[str], timeout: float = 30
                 ) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while True:
        job = api.get(f"/jobs/{job_id}").json()
        if job["status"] in until:
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} still {job['status']} after {timeout} s")
        time.sleep(0.05)


def worker_log(settings: Settings) -> str:
    path: Path = settings.var_dir / "worker.log"
    return path.read_text(errors="replace") if path.exists() else ""
