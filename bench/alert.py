"""Breaking news overtaking a digest in progress: 100,000 readers get a digest through
the whole pipeline (planning in the database, batches through Redis, real Celery
worker processes, SMTP into Postfix's smtp-sink); a few seconds in, an editor's alert
for 20,000 of them who chose Politics in the `breaking` newsletter is published
through the producer's path (`AlertPlanner.publish`, as `POST /articles` with
`"breaking": true` and `mailer articles alert` call it). Measured at the sink: the time
from the publish call to the first and the last alert it accepted, and the digest's
rate before and during the alert.

    python bench/alert.py [--subscribers 100000] [--alert-readers 20000] [--workers 4]
                          [--layout shared|units] [--before 5] [--batch-size 500]
                          [--database-url postgresql://...]

Workers as a site runs them (docs/architecture.md, "Lanes"): `shared` is one pool of
processes each consuming `share,alerts,digest`, which on Redis take the lanes in that
order; `units` is the systemd units' layout scaled to the workers given (one `-Q
alerts` process, the others `-Q alerts,digest`). Every reader lives in a zone where it
is day when the bench runs (the default quiet hours, 22:00-07:00, apply and hide no
one) and has had no alert today (the daily cap is not reached).

smtp-sink dumps each message to a file of its own on tmpfs (`-d`); a file's
modification time is when the sink took the message's last byte, and its List-Id
tells an alert (`breaking.digest.`) from a digest. Needs Postfix's smtp-sink (Debian
package `postfix`). The last line reads `alert N=20000 during digest: first 0.7 s,
last 7.3 s, digest 3457 emails/s before, 387 during; db=sqlite`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import bindparam, text  # noqa: E402

from bench.database import add_database_option, bench_database  # noqa: E402
from bench.digest import EDITION, SECTION_CHOICES, articles, tool, wait_until  # noqa: E402
from mailer import services  # noqa: E402
from mailer.articles.model import Article  # noqa: E402
from mailer.config import Settings, load_settings  # noqa: E402
from mailer.db import make_engine, upgrade  # noqa: E402
from mailer.delivery.ledger import FINAL  # noqa: E402
from mailer.local.embedded import RedisServer, WorkerProcess, free_port, worker_env  # noqa: E402
from mailer.models import UTCDateTime  # noqa: E402
from mailer.queue import LANES  # noqa: E402
from mailer.services import make_alert_planner, make_planner  # noqa: E402
from mailer.subscriptions.model import Preferences, SignUp  # noqa: E402
from worker.producer import CeleryJobQueue  # noqa: E402

SHM = "/dev/shm" if os.path.isdir("/dev/shm") else None  # tmpfs: the dumps cost no disk
ALERT_MARK = b"breaking.digest."  # in an alert's List-Id, never in a digest's
ALERT_READER = "Alert reader"  # their names, for the bench's bulk `subscriptions` insert
# Zones around the world: those where it is between 08:00 and 20:00 now are used, so
# the default quiet hours (22-7) hide no one for the bench's few minutes.
ZONES = ("Pacific/Auckland", "Asia/Tokyo", "Asia/Shanghai", "Asia/Kolkata", "Asia/Baku",
         "Europe/Moscow", "Europe/Berlin", "Europe/London", "America/Sao_Paulo",
         "America/New_York", "America/Chicago", "America/Los_Angeles", "Pacific/Honolulu")


def day_zones(now: datetime, most: int = 3) -> list[str]:
    found = [z for z in ZONES if 8 <= now.astimezone(ZoneInfo(z)).hour < 20]
    if not found:
        raise SystemExit("no zone in the list is in its day now")
    return found[:most]


def breaking_story(now: datetime) -> Article:
    return Article.model_validate({
        "id": "breaking-parliament-vote", "section": "Politics", "author": "Vafa Ismayilova",
        "title": "Parliament votes on the new election law tonight", "source": "Azernews",
        "published": now.isoformat(), "url": "https://www.today.az/news/breaking.html",
        "lead": "The vote, called an hour ago, is expected before midnight."})


def subscribers(count: int, alert_readers: int, zones: list[str]) -> Iterator[SignUp]:
    """Every reader has the daily digest; the first `alert_readers` (every fifth, spread
    through the list) also choose Politics in `breaking`, added in `add_breaking`."""
    step = max(count // max(alert_readers, 1), 1)
    for i in range(count):
        alert = i % step == 0 and i // step < alert_readers
        yield SignUp(f"reader{i}@example.org", f"{ALERT_READER if alert else 'Reader'} {i}",
                     Preferences(SECTION_CHOICES[i % len(SECTION_CHOICES)],
                                 zones[i % len(zones)], 7))


def add_breaking(settings: Settings) -> int:
    """The alert readers' `subscriptions` rows in one INSERT ... SELECT (setup, not
    measured: the bulk import takes the daily digest's sections only)."""
    engine = make_engine(settings.database)
    try:
        with engine.begin() as connection:
            return connection.execute(text(
                "INSERT INTO subscriptions (subscriber_id, newsletter, sections, at_night,"
                " updated_at) SELECT id, 'breaking', 'politics', 'morning', :now"
                " FROM subscribers WHERE name LIKE :names"
            ).bindparams(bindparam("now", type_=UTCDateTime())),
                {"now": datetime.now(UTC), "names": f"{ALERT_READER} %"}).rowcount
    finally:
        engine.dispose()


@dataclass(frozen=True)
class Sink:
    """smtp-sink dumping each message to a file of its own under `dump`."""
    port: int
    dump: Path
    proc: subprocess.Popen[bytes]

    @classmethod
    def start(cls, dump: Path) -> Sink:
        dump.parent.chmod(0o755)  # smtp-sink writes as `nobody`
        dump.mkdir()
        dump.chmod(0o777)
        port = free_port()
        proc = subprocess.Popen([tool("smtp-sink"), "-u", "nobody", "-d", f"{dump}/%H%M%S.",
                                 f"127.0.0.1:{port}", "1000"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)):
                break
            if proc.poll() is not None:
                assert proc.stderr is not None
                raise SystemExit(f"smtp-sink: {proc.stderr.read().decode().strip()}")
            time.sleep(0.05)
        return cls(port, dump, proc)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait()

    def accepted(self) -> tuple[list[float], list[float]]:
        """(alert times, digest times): each dumped message's modification time."""
        alerts: list[float] = []
        digests: list[float] = []
        for entry in os.scandir(self.dump):
            with open(entry.path, "rb") as dumped:
                head = dumped.read(4096)
            (alerts if ALERT_MARK in head else digests).append(entry.stat().st_mtime)
        return sorted(alerts), sorted(digests)


def start_workers(settings: Settings, layout: str, count: int) -> tuple[list[WorkerProcess],
                                                                          str]:
    """The worker processes, and a line saying how they consume the lanes."""
    env = worker_env(settings)
    var = settings.var_dir
    if layout == "shared":
        queues = ",".join(LANES)
        procs = [WorkerProcess(env, var / f"worker{i}.log", queues=queues, name=f"lanes{i}")
                 for i in range(count)]
        said = (f"{count} worker processes, each -Q {queues} (one pool: BRPOP on Redis "
                "takes the lanes in that order)")
    else:
        procs = [WorkerProcess(env, var / "alerts.log", queues="alerts", name="alerts"),
                 *(WorkerProcess(env, var / f"worker{i}.log", queues="alerts,digest",
                                 name=f"digest{i}") for i in range(count))]
        said = (f"as the systemd units: 1 process -Q alerts, {count} -Q alerts,digest "
                "(no share worker: no shares here)")
    return [proc.start() for proc in procs], said


@dataclass(frozen=True)
class Timeline:
    """Wall-clock times (time.time()) of the run, for the sink's file times."""
    planned: float  # the digest's planning returned
    published: float  # t0: the publish call was made
    publish_took: float
    alert_planned: float  # the alert run's total was set: every row made and queued


def run(settings: Settings, story: Article, readers: int, before: float) -> Timeline:
    stores = services.stores(settings, seed=False)
    queue = CeleryJobQueue(settings)
    try:
        report = make_planner(settings, stores, queue).plan(datetime.now(UTC), EDITION)
        planned = time.time()
        assert report.run_id and report.planned > 0, report
        time.sleep(before)
        alerts = make_alert_planner(settings, stores, queue)
        t0 = time.time()
        alert, new = alerts.publish(story.id, datetime.now(UTC))
        publish_took = time.time() - t0
        assert new, alert
        wait_until(lambda: stores.runs.get(alert.id).total >= readers, 600)
        alert_planned = time.time()

        def finished() -> bool:
            counts = stores.ledger.run_counts(alert.id)
            return sum(n for s, n in counts.items() if s in FINAL) >= readers

        wait_until(finished, 600)
        counts = stores.ledger.run_counts(alert.id)
        assert counts.get(next(s for s in FINAL if s.value == "sent"), 0) == readers, counts
    finally:
        queue.close()
        stores.close()
    return Timeline(planned, t0, publish_took, alert_planned)


def rate(times: list[float], start: float, end: float) -> float:
    return sum(1 for t in times if start <= t < end) / (end - start) if end > start else 0.0


def setup(settings: Settings, args: argparse.Namespace, story: Article) -> str:
    """The schema, the day's articles and the breaking story, the readers; a line."""
    engine = make_engine(settings.database)
    upgrade(engine)
    engine.dispose()
    zones = day_zones(datetime.now(UTC))
    with services.stores(settings, seed=False) as stores:
        stores.articles.put_many([*articles(), story])
        started = time.monotonic()
        stores.subscribers.import_active(
            subscribers(args.subscribers, args.alert_readers, zones))
    chose = add_breaking(settings)
    assert chose == args.alert_readers, chose
    return (f"setup: {args.subscribers} subscribers imported in "
            f"{time.monotonic() - started:.1f} s, {chose} of them in `breaking` (Politics); "
            f"zones where it is day now: {', '.join(zones)}; quiet hours "
            f"{settings.quiet_hours}; batches of {args.batch_size}")


def report(args: argparse.Namespace, kind: str, line: Timeline, sink: Sink) -> None:
    alerts, digests = sink.accepted()
    assert len(alerts) == args.alert_readers, len(alerts)
    t0 = line.published
    first, last = alerts[0] - t0, alerts[-1] - t0
    window = max(line.planned, t0 - args.before)
    before = rate(digests, window, t0)
    during = rate(digests, t0, alerts[-1])
    print(f"{'publish call (the run opened, its planning queued)':<52}{line.publish_took:>8.3f} s")
    print(f"{'alert planned: every row made and queued':<52}{line.alert_planned - t0:>8.2f} s")
    print(f"{'first alert accepted by the sink':<52}{first:>8.2f} s   target <= 2 s")
    print(f"{'last alert accepted by the sink':<52}{last:>8.2f} s   target <= 30 s")
    print(f"{'digest before the alert':<52}{before:>8.0f} emails/s over {t0 - window:.1f} s "
          f"({sum(1 for t in digests if t < t0)} sent by then, the first "
          f"{t0 - digests[0]:.1f} s before)")
    print(f"{'digest while the alert went out':<52}{during:>8.0f} emails/s "
          f"({len(alerts) / (alerts[-1] - alerts[0]):.0f} alerts/s beside it)")
    print(f"alert N={args.alert_readers} during digest: first {first:.1f} s, last {last:.1f} s, "
          f"digest {before:.0f} emails/s before, {during:.0f} during; db={kind}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--alert-readers", type=int, default=20_000)
    # Four processes on two cores, as bench/digest.py: one sends while another waits.
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--layout", choices=("shared", "units"), default="shared")
    parser.add_argument("--before", type=float, default=5.0,
                        help="seconds of digest before the alert is published")
    parser.add_argument("--batch-size", type=int, default=500)
    add_database_option(parser)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="alert-bench-") as tmp, \
            tempfile.TemporaryDirectory(prefix="alert-sink-", dir=SHM) as shm, \
            ExitStack() as stack:
        var = Path(tmp)
        kind, database_url = bench_database(stack, args.database_url, var, "mailer_bench")
        redis_server = stack.enter_context(_stopping(RedisServer(var / "redis").start()))
        sink = stack.enter_context(_stopping(Sink.start(Path(shm) / "dump")))
        settings = load_settings(redis_url=redis_server.url, var_dir=var, demo=True,
                                 smtp_url=f"smtp://127.0.0.1:{sink.port}?timeout=30",
                                 digest_batch_size=args.batch_size, digest_window_hours=23,
                                 database_url=database_url)
        story = breaking_story(datetime.now(UTC))
        print(setup(settings, args, story) + f"; {kind}", flush=True)
        procs, layout = start_workers(settings, args.layout, args.workers)
        print(f"workers: {layout}", flush=True)
        try:
            line = run(settings, story, args.alert_readers, args.before)
        finally:
            for proc in procs:
                proc.stop()
        report(args, kind, line, sink)


class _stopping:
    """A started server as a context manager: stopped when the block ends."""

    def __init__(self, server: RedisServer | Sink) -> None:
        self.server = server

    def __enter__(self) -> Any:
        return self.server

    def __exit__(self, *exc: object) -> None:
        self.server.stop()


if __name__ == "__main__":
    main()
