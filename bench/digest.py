"""Digest throughput: the whole pipeline (planning in the database, batches through
Redis, real Celery worker processes, SMTP into Postfix's smtp-sink) beside a naive
baseline and the ceiling, Postfix's own C load generator smtp-source, in one run.

    python bench/digest.py [--subscribers 100000] [--naive 1000] [--workers 4] [--dkim]
                           [--no-8bitmime] [--database-url postgresql://...]

With --dkim every message is DKIM-signed (ours: the body canonicalised and hashed per
variant, mailer/sending/canonical.py, and OpenSSL's RSA per message; the naive baseline:
dkimpy's own signing); with --ed25519 as well, an Ed25519 signature beside the RSA one.

Needs Postfix's smtp-sink and smtp-source (Debian package `postfix`); everything else
is started here on loopback ports and stopped at the end. The last line reads
`digest N=100000 db=sqlite: 1834 emails/s; naive 61 emails/s; smtp-source 5970 emails/s`;
the one before it, the CPU all our processes spent (bench/cpu.py: the workers, the
planner, Redis, and the PostgreSQL backends where the server is on this machine) per
1,000 e-mails, beside the sink's: `cost: 1210 ms CPU per 1000 e-mails (sink 95 ms)`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402
from sqlalchemy import Engine, text  # noqa: E402

from bench.cpu import CpuMeter  # noqa: E402
from bench.database import add_database_option, bench_database  # noqa: E402
from mailer import services  # noqa: E402
from mailer.articles.model import Article  # noqa: E402
from mailer.config import Settings, load_settings  # noqa: E402
from mailer.db import make_engine, upgrade  # noqa: E402
from mailer.delivery.ledger import FINAL  # noqa: E402
from mailer.local.embedded import RedisServer, WorkerProcess, free_port, worker_env  # noqa: E402
from mailer.queue import DIGEST_QUEUE  # noqa: E402
from mailer.sending.dkim import generate_key  # noqa: E402
from mailer.services import make_planner  # noqa: E402
from mailer.subscriptions.model import Preferences, SignUp  # noqa: E402
from worker.producer import CeleryJobQueue  # noqa: E402

EDITION = date(2026, 11, 26)
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", None}
SECTION_CHOICES = [("politics",), ("economy", "politics"), ("politics", "society"),
                   ("economy",), ("economy", "politics", "society")]


def tool(name: str) -> str:
    found = shutil.which(name) or (f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}")
                                   else None)
    if not found:
        sys.exit(f"{name} not found: install Debian's postfix package "
                 "(apt-get install postfix; choose 'No configuration')")
    return found


def articles() -> list[Article]:
    sections = ["Politics", "Economy", "Society"]
    return [Article.model_validate({
        "id": f"story-{i}", "title": f"Story number {i} of the day in Baku",
        "section": sections[i % 3], "author": "Vafa Ismayilova", "source": "Azernews",
        "published": f"2026-11-26T{8 + i // 2:02d}:{(i % 2) * 30:02d}:00+04:00",
        "url": f"https://www.today.az/news/{i}.html",
        "lead": "As part of its international integration, Azerbaijan has built and "
                "continues to build good relations with a number of influential "
                "organisations. " * 2}) for i in range(20)]


def subscribers(count: int) -> list[SignUp]:
    return [SignUp(f"reader{i}@example.org", f"Reader {i}",
                   Preferences(SECTION_CHOICES[i % len(SECTION_CHOICES)], "Asia/Baku", 7))
            for i in range(count)]


def wait_until(check, timeout: float, every: float = 0.05) -> float:
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise SystemExit("benchmark timed out")
        time.sleep(every)
    return time.monotonic() - start


def run_ours(settings: Settings, count: int, workers: int, meter: CpuMeter
             ) -> tuple[float, float, float]:
    """(emails/s, planning seconds, total seconds); `meter` gets the CPU our processes
    spent meanwhile: the workers', the planner's (this process, planning only), and
    what the servers did for them."""
    stores = services.stores(settings, seed=False)
    procs = [WorkerProcess(worker_env(settings), settings.var_dir / f"worker{i}.log",
                           queues="digest", concurrency=1, name=f"bench{i}").start()
             for i in range(workers)]
    meter.groups["workers"] = lambda: [p.proc.pid for p in procs if p.proc is not None]
    meter.groups["database"] = lambda: database_backends(stores.engine)
    queue = CeleryJobQueue(settings)
    try:
        meter.start()
        start, started_at = time.monotonic(), datetime.now(UTC)
        cpu = time.process_time()
        report = make_planner(settings, stores, queue).plan(datetime.now(UTC), EDITION)
        meter.add("planner", time.process_time() - cpu)
        planned = time.monotonic() - start
        assert report.run_id and report.planned == count, report

        def finished() -> bool:
            counts = stores.ledger.run_counts(report.run_id or "")
            return sum(n for s, n in counts.items() if s in FINAL) >= count

        # Counting a run's 100,000 rows takes CPU the workers want (on PostgreSQL it
        # was a tenth of the database's share of the cost line): the ledger is asked
        # twice a second only once the broker has handed out the last batch. The time
        # is the ledger's, when the last message was recorded sent.
        broker = redis.Redis.from_url(settings.redis_url)
        wait_until(lambda: broker.llen(DIGEST_QUEUE) == 0, 3600, every=0.1)
        broker.close()
        wait_until(finished, 3600, every=0.5)
        meter.stop()
        last = stores.ledger.delivery_times([report.run_id], timedelta(days=1))[
            report.run_id].last_sent
        assert last is not None
        total = (last - started_at).total_seconds()
        counts = stores.ledger.run_counts(report.run_id)
        assert counts.get(next(s for s in FINAL if s.value == "sent"), 0) == count, counts
    finally:
        queue.close()
        for proc in procs:
            proc.stop()
    return count / total, planned, total


def database_backends(engine: Engine) -> list[int]:
    """The PostgreSQL backends serving the bench's own database, where the server runs
    on this machine (their CPU is the database's work for us); none for SQLite, which
    works inside the workers."""
    if engine.dialect.name != "postgresql" or engine.url.host not in LOCAL_HOSTS:
        return []
    with engine.connect() as connection:
        return list(connection.execute(text(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()")).scalars())


def run_naive(settings: Settings, count: int, workers: int) -> float:
    client = redis.Redis.from_url(settings.redis_url)
    env = worker_env(settings)
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "bench.naive", "worker", "-Q", "naive",
         "-c", str(workers), "--loglevel", "WARNING", "--without-gossip", "--without-mingle",
         "--without-heartbeat"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    from celery import Celery

    app = Celery("naive-producer", broker=settings.redis_url, set_as_current=False)
    app.conf.update(task_serializer="json", accept_content=["json"])
    try:
        ids = [s.id for s in services.stores(settings, seed=False).subscribers.list()[:count]]
        time.sleep(3)  # let the worker come up before the clock starts
        start = time.monotonic()
        for subscriber_id in ids:
            app.send_task("bench.naive.send_one", args=[subscriber_id, EDITION.isoformat()],
                          queue="naive")
        wait_until(lambda: int(client.get("bench:naive:sent") or 0)
                   + int(client.get("bench:naive:failed") or 0) >= count, 60 + count)
        elapsed = time.monotonic() - start
        assert int(client.get("bench:naive:failed") or 0) == 0
    finally:
        app.close()
        proc.terminate()
        proc.wait()
    return count / elapsed


def run_smtp_source(port: int, count: int) -> float:
    start = time.monotonic()
    subprocess.run([tool("smtp-source"), "-s", "20", "-d", "-m", str(count), "-l", "20000",
                    "-f", "news@today.az", "-t", "reader@example.org", f"127.0.0.1:{port}"],
                   check=True, stdout=subprocess.DEVNULL)
    return count / (time.monotonic() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--naive", type=int, default=1_000)
    # Four processes on two cores: while one waits for the relay's reply another sends.
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--dkim", action="store_true",
                        help="Sign every digest with a new 2048-bit RSA key.")
    parser.add_argument("--ed25519", action="store_true",
                        help="With --dkim: an Ed25519 signature beside the RSA one too.")
    parser.add_argument("--no-8bitmime", action="store_true", dest="seven_bit",
                        help="The sink does not offer 8BITMIME: every message is re-encoded "
                             "to 7-bit before DATA.")
    add_database_option(parser)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="digest-bench-") as tmp, ExitStack() as stack:
        var = Path(tmp)
        kind, database_url = bench_database(stack, args.database_url, var, "mailer_bench")
        redis_server = RedisServer(var / "redis").start()
        port = free_port()
        sink = subprocess.Popen([tool("smtp-sink"), "-u", "nobody",
                                 *(["-8"] if args.seven_bit else []), f"127.0.0.1:{port}",
                                 "1000"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            signing: dict[str, object] = {}
            if args.dkim:
                key = var / "dkim.pem"
                key.write_bytes(generate_key(2048)[0])
                signing = {"dkim_key_file": key, "dkim_selector": "bench"}
                if args.ed25519:
                    (var / "ed25519.pem").write_bytes(generate_key(algorithm="ed25519")[0])
                    signing.update(dkim_ed25519_key_file=var / "ed25519.pem",
                                   dkim_ed25519_selector="bench-ed")
            settings = load_settings(redis_url=redis_server.url, var_dir=var, demo=True,
                                     smtp_url=f"smtp://127.0.0.1:{port}?timeout=30",
                                     digest_batch_size=args.batch_size,
                                     digest_window_hours=23, database_url=database_url,
                                     **signing)
            engine = make_engine(settings.database)
            upgrade(engine)
            engine.dispose()
            stores = services.stores(settings, seed=False)
            stores.articles.put_many(articles())
            started = time.monotonic()
            stores.subscribers.import_active(subscribers(args.subscribers))
            print(f"setup: {args.subscribers} subscribers imported in "
                  f"{time.monotonic() - started:.1f} s; 20 articles; {args.workers} worker "
                  f"processes; batches of {args.batch_size}; {kind}"
                  f"{'; relay without 8BITMIME (7-bit)' if args.seven_bit else ''}", flush=True)
            meter = CpuMeter({"redis": lambda: [redis_server.proc.pid]
                                       if redis_server.proc else [],
                              "sink": lambda: [sink.pid]})
            ours, planning, total = run_ours(settings, args.subscribers, args.workers, meter)
            naive = run_naive(settings, min(args.naive, args.subscribers), args.workers)
            ceiling = run_smtp_source(port, 20_000)
        finally:
            sink.terminate()
            sink.wait()
            redis_server.stop()
    print(f"{'pipeline':<44}{'emails/s':>10}")
    print(f"{'ours (plan, batch tasks, spliced messages)':<44}{ours:>10.0f}   "
          f"plan {planning:.1f} s, all sent in {total:.1f} s")
    print(f"{'naive (task, render, message, connection each)':<44}{naive:>10.0f}   "
          f"ours is {ours / naive:.0f}x")
    print(f"{'smtp-source -s 20 (ceiling)':<44}{ceiling:>10.0f}   "
          f"ours is {100 * ours / ceiling:.0f}% of it")
    per = 1_000_000 / args.subscribers  # seconds per e-mail -> ms per 1000 e-mails
    parts = ("workers", "planner", "redis", "database")
    print("CPU per 1000 e-mails: " + ", ".join(
        f"{name} {meter.spent.get(name, 0.0) * per:.0f} ms" for name in parts))
    print(f"cost: {sum(meter.spent.get(name, 0.0) for name in parts) * per:.0f} ms CPU per "
          f"1000 e-mails (sink {meter.spent.get('sink', 0.0) * per:.0f} ms)")
    print(f"digest N={args.subscribers} db={kind}: {ours:.0f} emails/s; naive {naive:.0f} "
          f"emails/s; "
          f"smtp-source {ceiling:.0f} emails/s")


if __name__ == "__main__":
    main()
