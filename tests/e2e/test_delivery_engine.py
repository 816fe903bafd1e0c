"""The delivery engine end to end: three real `celery worker` processes sharing one
Redis and one database, sending to a real SMTP server (aiosmtpd, with PIPELINING like
Postfix), under shared send-rate limits."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mailer import services
from mailer.articles.model import Article
from mailer.config import Settings, load_settings
from mailer.db import make_engine, upgrade
from mailer.delivery.ledger import FINAL, JobStatus
from mailer.delivery.resend import resend_failed
from mailer.local.embedded import RedisServer, WorkerProcess, free_port, worker_env
from mailer.local.sink import start_sink
from mailer.services import make_planner
from mailer.share.accept import ShareIntake
from mailer.stores import Stores
from mailer.subscriptions.model import Preferences, SignUp
from tests.conftest import TEST_SECRET
from tests.support.smtp import RecordingHandler
from worker.producer import CeleryJobQueue

ARTICLE = "non-aligned-movement-support-to-azerbaijan-over-karabakh-significant"
EDITION = date(2026, 11, 26)
BAKU = Preferences(("politics",), "Asia/Baku", 7)


@dataclass
class Stack:
    settings: Settings
    stores: Stores
    queue: CeleryJobQueue
    sink: RecordingHandler
    workers: list[WorkerProcess]

    def share(self, to: str) -> str:
        return ShareIntake(articles=self.stores.articles).submit(
            {"article_id": ARTICLE, "sender_name": "Aysel", "sender_email": "aysel@example.com",
             "friend_name": "Friend", "friend_email": to},
            ledger=self.stores.ledger, queue=self.queue)

    def subscribe(self, addresses: list[str]) -> None:
        self.stores.subscribers.import_active(SignUp(a, "", BAKU) for a in addresses)

    def digest(self, edition: date = EDITION) -> tuple[str, int]:
        report = make_planner(self.settings, self.stores, self.queue).plan(
            datetime.now(UTC), edition)
        assert report.run_id
        return report.run_id, report.planned

    def wait_run(self, run_id: str, total: int, timeout: float = 60) -> dict[JobStatus, int]:
        return self.stores.ledger.wait_for_run(run_id, total, timeout)

    def wait_jobs(self, ids: list[str], timeout: float = 60) -> Counter[str]:
        deadline = time.monotonic() + timeout
        while True:
            states = Counter(str(r.status) for r in map(self.stores.ledger.get, ids) if r)
            if sum(n for s, n in states.items() if JobStatus(s) in FINAL) == len(ids) \
                    or time.monotonic() > deadline:
                return states
            time.sleep(0.2)


def story(article_id: str, day: date) -> Article:
    return Article.model_validate({
        "id": article_id, "title": f"Story {article_id}", "section": "Politics",
        "published": f"{day.isoformat()}T10:00:00+04:00", "lead": "Lead.",
        "url": f"https://www.today.az/{article_id}.html"})


def start_stack(tmp: Path, redis_server: RedisServer, db: int, queues: list[str],
                **overrides: Any) -> Iterator[Stack]:
    handler, port = RecordingHandler(pipelining=True), free_port()
    controller = start_sink(tmp, port=port, handler=handler)
    settings = load_settings(**{
        "secret_key": TEST_SECRET, "redis_url": f"redis://127.0.0.1:{redis_server.port}/{db}",
        "var_dir": tmp, "smtp_url": f"smtp://127.0.0.1:{port}?timeout=10",
        "retry_base_seconds": 0.3, "retry_max_seconds": 1.0, "digest_batch_size": 50,
        **overrides})
    engine = make_engine(settings.database)
    upgrade(engine)
    engine.dispose()
    stores = services.stores(settings)
    stores.articles.put_many([story("one", EDITION), story("two", EDITION + timedelta(1))])
    env = worker_env(settings)
    workers = [WorkerProcess(env, tmp / f"worker{i}.log", queues=q, name=f"w{i}")
               for i, q in enumerate(queues)]
    starting = [threading.Thread(target=w.start) for w in workers]
    for thread in starting:
        thread.start()
    for thread in starting:
        thread.join()
    assert all(w.proc is not None for w in workers)
    queue = CeleryJobQueue(settings)
    yield Stack(settings, stores, queue, handler, workers)
    queue.close()
    for worker in workers:
        worker.stop()
    controller.stop()


@pytest.fixture(scope="module")
def paced(tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer
          ) -> Iterator[Stack]:
    """A relay allowing 50 messages/s, none of it kept back for shares."""
    yield from start_stack(tmp_path_factory.mktemp("paced"), redis_server, 3,
                           ["share,digest"] * 3, rate_limit="50/s", rate_reserve=0)


@pytest.fixture(scope="module")
def reserved(tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer
             ) -> Iterator[Stack]:
    """20 messages/s, a quarter kept for shares; two digest workers and, as the README
    recommends, one for the share queue alone."""
    yield from start_stack(tmp_path_factory.mktemp("reserved"), redis_server, 5,
                           ["digest", "digest", "share"], rate_limit="20/s",
                           rate_reserve=0.25)


@pytest.fixture(scope="module")
def by_domain(tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer
              ) -> Iterator[Stack]:
    """No relay limit; 1,000/s for any domain but slow.example, which takes 5/s."""
    yield from start_stack(tmp_path_factory.mktemp("domains"), redis_server, 4,
                           ["share,digest"] * 3, domain_rate_limit="1000/s",
                           domain_rate_limits="slow.example=5/s")


def test_three_workers_send_at_the_configured_rate(paced: Stack) -> None:
    paced.sink.clear()
    paced.subscribe([f"reader{i}@example.org" for i in range(1000)])
    run_id, total = paced.digest()
    assert paced.wait_run(run_id, total, timeout=60) == {JobStatus.SENT: 1000}
    times = sorted(r.at for r in paced.sink.received)
    assert len(times) == 1000
    spread = times[-1] - times[0]
    print(f"1000 messages at 50/s over 3 workers: {spread:.2f} s "
          f"({999 / spread:.1f} msg/s)")
    assert 18.0 <= spread <= 22.0, "20 s +- 10%"
    busiest_second = max(Counter(int(t - times[0]) for t in times).values())
    assert busiest_second <= 55, "evenly spaced, not bursts"


def test_a_share_is_not_stuck_behind_a_digest(reserved: Stack) -> None:
    reserved.sink.clear()
    reserved.subscribe([f"sub{i}@example.org" for i in range(90)])
    run_id, total = reserved.digest()
    time.sleep(0.5)  # the digest is under way: its workers hold the relay's slots
    latencies = []
    for i in range(10):
        started = time.monotonic()
        reserved.share(f"urgent{i}@example.org")
        while not reserved.sink.for_recipient(f"urgent{i}@example.org"):
            assert time.monotonic() - started < 10
            time.sleep(0.01)
        latencies.append(time.monotonic() - started)
        time.sleep(0.1)
    counts = reserved.wait_run(run_id, total)
    assert counts == {JobStatus.SENT: total}
    digest_times = sorted(r.at for r in reserved.sink.received
                          if r.rcpt_tos[0].startswith("sub"))
    rate = (total - 1) / (digest_times[-1] - digest_times[0])
    print(f"share latencies during a digest: {[round(x, 3) for x in latencies]}; "
          f"digest at {rate:.1f}/s")
    assert max(latencies) < 1.0, "a share goes within a second, digest or not"
    assert 15 * 0.9 <= rate <= 15 * 1.1, "the digest keeps to its 75% of the relay's 20/s"


def test_a_slow_domain_does_not_hold_the_others_back(by_domain: Stack) -> None:
    by_domain.sink.clear()
    slow = [f"s{i}@slow.example" for i in range(30)]
    fast = [f"f{i}@fast{i % 7}.example" for i in range(300)]
    by_domain.subscribe(slow + fast)
    started = time.monotonic()
    run_id, total = by_domain.digest()
    counts = by_domain.wait_run(run_id, total)
    assert counts == {JobStatus.SENT: 330}
    at = {r.rcpt_tos[0]: r.at - started for r in by_domain.sink.received}
    fast_done, slow_first = max(at[a] for a in fast), min(at[a] for a in slow)
    slow_spread = max(at[a] for a in slow) - slow_first
    print(f"fast domains done after {fast_done:.2f} s; slow.example spread "
          f"{slow_spread:.2f} s ({29 / slow_spread:.2f}/s)")
    assert fast_done < 4.0, "the fast domains are not paced by the slow one"
    assert 29 / 5 * 0.9 <= slow_spread <= 29 / 5 * 1.25, "slow.example at 5/s"


def test_421_replies_are_deferred_then_delivered(by_domain: Stack) -> None:
    by_domain.sink.clear()
    busy = [f"b{i}@busy.example" for i in range(20)]
    by_domain.sink.script_domain("busy.example", *["421 4.7.0 too many messages, slow down"]
                                 * 25)
    by_domain.subscribe(busy)
    run_id, total = by_domain.digest()
    counts = by_domain.wait_run(run_id, total)
    assert counts == {JobStatus.SENT: 20}, "none lost, none failed"
    assert Counter(r.rcpt_tos[0] for r in by_domain.sink.received) == dict.fromkeys(busy, 1)
    assert sum(by_domain.sink.attempts[a] for a in busy) == 45, "25 deferrals, 20 deliveries"


def test_550_suppresses_and_the_next_digest_skips_the_address(by_domain: Stack) -> None:
    by_domain.sink.clear()
    by_domain.sink.refuse_rcpt["gone@bounce.example"] = "550 5.1.1 no such user"
    by_domain.subscribe(["gone@bounce.example", "here@bounce.example"])
    stores = by_domain.stores
    first, total = by_domain.digest()
    counts = by_domain.wait_run(first, total)
    assert counts[JobStatus.FAILED] == 1
    assert stores.suppressions.suppressed(["gone@bounce.example"]) == {"gone@bounce.example"}
    del by_domain.sink.refuse_rcpt["gone@bounce.example"]
    nxt, total = by_domain.digest(EDITION + timedelta(1))
    by_domain.wait_run(nxt, total)
    rows = {r.recipient: r.status for r in stores.ledger.failed(run_id=first)}
    assert rows == {"gone@bounce.example": JobStatus.FAILED}
    assert by_domain.sink.rcpt_attempts["gone@bounce.example"] == 1, "never tried again"
    assert len(by_domain.sink.for_recipient("here@bounce.example")) == 2
    with stores.sessions.begin() as session:
        from sqlalchemy import select

        from mailer.models import DeliveryRow
        status = session.execute(select(DeliveryRow.status).where(
            DeliveryRow.run_id == nxt, DeliveryRow.recipient == "gone@bounce.example")).scalar()
    assert status == JobStatus.SUPPRESSED.value


def test_resend_sends_only_the_failed_ones_once(by_domain: Stack) -> None:
    by_domain.sink.clear()
    people = ["ok@resend.example", "refused@resend.example"]
    by_domain.sink.script("refused@resend.example", "554 5.7.1 rejected by content filter")
    share_ok = by_domain.share("friend-ok@resend.example")
    by_domain.sink.script("friend-no@resend.example", "554 5.7.1 rejected")
    share_no = by_domain.share("friend-no@resend.example")
    by_domain.subscribe(people)
    run_id, total = by_domain.digest()
    by_domain.wait_run(run_id, total)
    assert by_domain.wait_jobs([share_ok, share_no]) == {"sent": 1, "failed": 1}
    stores = by_domain.stores
    failed = Counter(r.kind for r in stores.ledger.failed())  # earlier tests' too
    planner = make_planner(by_domain.settings, stores, by_domain.queue)
    report = resend_failed(ledger=stores.ledger, queue=by_domain.queue, planner=planner,
                           run_id=None, window_hours=5)
    assert (report.messages, report.digests) == (failed["share"], failed["digest"])
    again = resend_failed(ledger=stores.ledger, queue=by_domain.queue, planner=planner,
                          run_id=None, window_hours=5)
    assert (again.messages, again.digests) == (0, 0), "each once"
    assert by_domain.wait_run(run_id, total) == {JobStatus.SENT: 2}
    assert by_domain.wait_jobs([share_ok, share_no]) == {"sent": 2}
    received = Counter(r.rcpt_tos[0] for r in by_domain.sink.received)
    assert received == {"ok@resend.example": 1, "refused@resend.example": 1,
                        "friend-ok@resend.example": 1, "friend-no@resend.example": 1}
    assert stores.ledger.failed() == [], "a resent hard bounce is suppressed, not sent"
