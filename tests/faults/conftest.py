"""The fault suite: real processes (Redis, Celery workers and beat, the API, an SMTP
server, the database) broken for real while they work: killed, stopped, restarted.

Each test gets a stack of its own, so a fault in one cannot leak into the next.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time as clock
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller

from mailer import services
from mailer.articles.model import Article
from mailer.config import ROOT, Settings, load_settings
from mailer.db import make_engine, upgrade
from mailer.delivery.ledger import FINAL, JobStatus
from mailer.local.embedded import RedisServer, WorkerProcess, free_port, worker_env
from mailer.local.sink import start_sink
from mailer.stores import Stores
from mailer.subscriptions.model import Preferences, SignUp
from tests.conftest import NO_FLOOD_LIMITS, TEST_SECRET
from tests.support.smtp import RecordingHandler

ZONE = "Asia/Baku"
ARTICLE = "non-aligned-movement-support-to-azerbaijan-over-karabakh-significant"  # seeded


@dataclass
class FaultStack:
    tmp: Path
    redis: RedisServer
    handler: RecordingHandler
    smtp_port: int
    settings: Settings = field(init=False)
    stores: Stores = field(init=False)
    sink: Controller | None = None
    processes: list[WorkerProcess] = field(default_factory=list)
    beats: list[subprocess.Popen[bytes]] = field(default_factory=list)
    restarts: int = 0
    _closing: threading.Event = field(default_factory=threading.Event)

    def configure(self, **overrides: object) -> Settings:
        values: dict[str, object] = {
            "redis_url": self.redis.url, "secret_key": TEST_SECRET, "var_dir": self.tmp,
            "smtp_url": f"smtp://127.0.0.1:{self.smtp_port}?timeout=5",
            "public_url": "https://news.example.test", **NO_FLOOD_LIMITS}
        values.update(overrides)
        self.settings = load_settings(**values)
        engine = make_engine(self.settings.database)
        upgrade(engine)
        engine.dispose()
        self.stores = services.stores(self.settings)
        return self.settings

    def start_sink(self) -> None:
        self.sink = start_sink(self.tmp / "outbox", port=self.smtp_port, handler=self.handler)

    def stop_sink(self) -> None:
        if self.sink is not None:
            self.sink.stop()
            self.sink = None

    def worker(self, name: str, *, queues: str = "share,alerts,digest",
               concurrency: int = 1) -> WorkerProcess:
        proc = WorkerProcess(worker_env(self.settings), self.tmp / f"{name}.log",
                             queues=queues, concurrency=concurrency, name=name).start()
        self.processes.append(proc)
        return proc

    def supervise(self) -> None:
        """Restart any worker that exits, as systemd's `Restart=always` would: a Celery
        worker can die of its own ("Unrecoverable error") when the broker connection
        drops at the wrong moment (a kombu race, celery/celery#4652 and kin)."""
        def watch() -> None:
            while not self._closing.wait(0.5):
                for proc in self.processes:
                    if proc.proc is not None and proc.proc.poll() is not None:
                        proc.stop()
                        proc.start()
                        self.restarts += 1

        threading.Thread(target=watch, daemon=True).start()

    def beat(self, name: str) -> subprocess.Popen[bytes]:
        log = (self.tmp / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "worker", "beat", "--loglevel", "INFO",
             "-s", str(self.tmp / f"{name}-schedule")], cwd=ROOT,
            env=worker_env(self.settings), stdout=log, stderr=subprocess.STDOUT)
        self.beats.append(proc)
        return proc

    def digest_readers(self, count: int) -> date:
        """`count` active subscribers to Politics (r0@example.org …) whose digest is due
        now in Baku, and an article for the edition due: returns that edition."""
        now = datetime.now(ZoneInfo(ZONE))
        edition = now.date() - timedelta(days=1)
        self.stores.articles.put_many([Article.model_validate({
            "id": "story", "title": "A story of the day", "section": "Politics",
            "published": datetime.combine(edition, time(12), ZoneInfo(ZONE)).isoformat(),
            "url": "https://www.today.az/s.html", "lead": "Lead."})])
        self.stores.subscribers.import_active(
            SignUp(f"r{i}@example.org", "", Preferences(("politics",), ZONE, now.hour))
            for i in range(count))
        return edition

    def wait_final(self, count: Callable[[], dict[JobStatus, int]], total: int,
                   timeout: float) -> dict[JobStatus, int]:
        deadline = clock.monotonic() + timeout
        while True:
            counts = count()
            if sum(n for s, n in counts.items() if s in FINAL) >= total:
                return counts
            assert clock.monotonic() < deadline, f"not all final after {timeout} s: {counts}"
            clock.sleep(0.2)

    def wait_jobs_final(self, job_ids: list[str], timeout: float) -> None:
        """Until every one of these messages is sent, failed or otherwise final."""
        deadline = clock.monotonic() + timeout
        while (pending := [j for j in job_ids if (r := self.stores.ledger.get(j)) is None
                           or r.status not in FINAL]):
            assert clock.monotonic() < deadline, \
                f"{len(pending)} accepted shares not final: {self.stores.ledger.get(pending[0])}"
            clock.sleep(0.5)

    def per_recipient(self) -> Counter[str]:
        return Counter(r.rcpt_tos[0] for r in self.handler.received)

    def close(self) -> None:
        self._closing.set()
        for proc in self.processes:
            proc.stop()
        for beat in self.beats:
            beat.terminate()
            beat.wait(timeout=15)
        self.stop_sink()
        self.stores.close()


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[FaultStack]:
    redis_server = RedisServer(tmp_path / "redis", append_only=True).start()
    built = FaultStack(tmp_path, redis_server, RecordingHandler(), free_port())
    built.start_sink()
    try:
        yield built
    finally:
        if hasattr(built, "stores"):
            built.close()
        else:
            built.stop_sink()
        redis_server.stop()


def duplicates(per_recipient: Counter[str]) -> int:
    return sum(n - 1 for n in per_recipient.values())
