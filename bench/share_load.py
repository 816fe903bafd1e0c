"""Share load: many concurrent clients post shares to the real API, the real workers
deliver them over SMTP; how fast `POST /share` answers, and when the last share is out.

    python bench/share_load.py [--shares 10000] [--clients 8] [--api-workers 2]
                               [--workers 1] [--seconds 120]

Everything runs on loopback, started here and stopped at the end: a private Redis, the
API (`mailer serve --workers N`), Celery workers on the share queue, and an SMTP sink
(Postfix's smtp-sink when installed, else ours). The clients are closed loops over
keep-alive HTTP/1.1 connections: each sends its next share when the last one is
answered, so the figures are what the service sustains, not what was offered. Flood
limits are off (one client IP, as many shares as the run sends).

Beside ours, the baseline: the same number of requests to `GET /healthz`, the least
work this API can answer, over the same connections.

The last line reads `share load: 612 req/s, p50 9 ms, p99 38 ms, delivered 30000/30000`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.database import add_database_option, bench_database  # noqa: E402
from mailer import services  # noqa: E402
from mailer.config import Settings, load_settings  # noqa: E402
from mailer.db import make_engine, upgrade  # noqa: E402
from mailer.delivery.ledger import FINAL, JobStatus  # noqa: E402
from mailer.local.embedded import RedisServer, WorkerProcess, free_port, worker_env  # noqa: E402

ARTICLE = "non-aligned-movement-support-to-azerbaijan-over-karabakh-significant"
NO_FLOOD_LIMITS = {name: "none" for name in (
    "share_limit_per_ip", "share_limit_per_sender", "share_limit_per_recipient",
    "share_limit_per_article", "share_limit_total", "signup_limit_per_ip")}


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)


def share_body(n: int) -> bytes:
    return json.dumps({
        "article_id": ARTICLE, "sender_name": f"Reader {n}",
        "sender_email": f"reader{n}@example.org", "friend_name": f"Friend {n}",
        "friend_email": f"friend{n}@example.net", "note": "Worth a read."}).encode()


async def client(port: int, jobs: asyncio.Queue[int], tally: Tally, path: str,
                 deadline: float) -> None:
    """One keep-alive connection, one request at a time."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.monotonic() < deadline:
            try:
                n = jobs.get_nowait()
            except asyncio.QueueEmpty:
                return
            if path == "/share":
                body = share_body(n)
                head = (f"POST /share HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json"
                        f"\r\nContent-Length: {len(body)}\r\n\r\n").encode()
            else:
                body, head = b"", f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
            started = time.perf_counter()
            writer.write(head + body)
            status_line = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                if name.lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
            tally.latencies.append(time.perf_counter() - started)
            tally.statuses[int(status_line.split()[1])] += 1
    finally:
        writer.close()


async def load(port: int, count: int, clients: int, path: str, seconds: float) -> tuple[
        Tally, float]:
    jobs: asyncio.Queue[int] = asyncio.Queue()
    for n in range(count):
        jobs.put_nowait(n)
    tally = Tally()
    started = time.monotonic()
    await asyncio.gather(*(client(port, jobs, tally, path, started + seconds)
                           for _ in range(clients)))
    return tally, time.monotonic() - started


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def start_sink(var: Path, port: int) -> subprocess.Popen[bytes]:
    found = shutil.which("smtp-sink") or ("/usr/sbin/smtp-sink"
                                          if os.path.exists("/usr/sbin/smtp-sink") else None)
    if found:
        command = [found, "-u", "nobody", f"127.0.0.1:{port}", "1000"]
    else:
        command = [sys.executable, "-m", "mailer.cli", "sink", "--port", str(port)]
    return subprocess.Popen(command, cwd=ROOT, env=os.environ | {
        "MAILER_VAR_DIR": str(var)}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def start_api(settings: Settings, port: int, processes: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mailer.cli", "serve", "--port", str(port), "--workers",
         str(processes)], cwd=ROOT, env=worker_env(settings), stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            tally, _ = asyncio.run(load(port, processes * 4, processes * 4, "/healthz", 5))
            if tally.statuses[200] == processes * 4:
                return proc
        except OSError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("the API did not start")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shares", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--api-workers", type=int, default=2)
    # One delivery process on a 2-core machine: the API keeps the cores it needs for
    # the burst, and the queue drains behind it (two reach ~210 deliveries/s, but
    # take the API down to ~400 req/s).
    parser.add_argument("--workers", type=int, default=1, help="Celery worker processes")
    add_database_option(parser)
    parser.add_argument("--seconds", type=float, default=120,
                        help="stop sending after this long, whatever is left")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="share-load-") as tmp, ExitStack() as stack:
        var = Path(tmp)
        redis_server = RedisServer(var / "redis").start()
        smtp_port, api_port = free_port(), free_port()
        sink = start_sink(var, smtp_port)
        kind, database_url = bench_database(stack, args.database_url, var, "mailer_share")
        settings = load_settings(redis_url=redis_server.url, var_dir=var, demo=True,
                                 database_url=database_url,
                                 smtp_url=f"smtp://127.0.0.1:{smtp_port}?timeout=30",
                                 **NO_FLOOD_LIMITS)
        engine = make_engine(settings.database)
        upgrade(engine)
        engine.dispose()
        stores = services.stores(settings)  # seeds the shipped article
        api = start_api(settings, api_port, args.api_workers)
        workers = [WorkerProcess(worker_env(settings), var / f"worker{i}.log", queues="share",
                                 concurrency=1, name=f"load{i}").start()
                   for i in range(args.workers)]
        try:
            baseline, baseline_time = asyncio.run(load(api_port, args.shares, args.clients,
                                                       "/healthz", args.seconds))
            started = time.monotonic()
            tally, elapsed = asyncio.run(load(api_port, args.shares, args.clients, "/share",
                                              args.seconds))
            accepted = tally.statuses[202]
            sent = 0
            deadline = time.monotonic() + max(300, accepted / 20)
            while time.monotonic() < deadline:
                counts = stores.ledger.kind_counts("share")
                sent = counts.get(JobStatus.SENT, 0)
                if sum(n for s, n in counts.items() if s in FINAL) >= accepted:
                    break
                time.sleep(0.25)
            drained = time.monotonic() - started
        finally:
            for worker in workers:
                worker.stop()
            api.terminate()
            api.wait()
            sink.terminate()
            sink.wait()
            redis_server.stop()
    answered = len(tally.latencies)
    database = {"postgresql": "PostgreSQL", "sqlite": "SQLite"}[kind]
    print(f"{args.clients} clients, {args.api_workers} API processes, {args.workers} "
          f"Celery workers, {database}; statuses {dict(tally.statuses)}")
    print(f"{'request':<16}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}")
    for name, t, seconds in (("GET /healthz", baseline, baseline_time),
                             ("POST /share", tally, elapsed)):
        print(f"{name:<16}{len(t.latencies) / seconds:>8.0f}"
              f"{1000 * percentile(t.latencies, 0.5):>9.1f}"
              f"{1000 * percentile(t.latencies, 0.99):>9.1f}")
    print(f"{answered} shares answered in {elapsed:.1f} s, {accepted} accepted; the last "
          f"delivered {drained:.1f} s after the first was posted "
          f"({sent / drained:.0f} deliveries/s)")
    print(f"share load: {answered / elapsed:.0f} req/s, "
          f"p50 {1000 * percentile(tally.latencies, 0.5):.0f} ms, "
          f"p99 {1000 * percentile(tally.latencies, 0.99):.0f} ms, "
          f"delivered {sent}/{accepted}")


if __name__ == "__main__":
    main()
