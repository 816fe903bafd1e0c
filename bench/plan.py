"""Growing to a million subscribers: import a CSV through `mailer subscribers import`
and plan one digest edition for all of them, in one process, measuring time and that
process's peak resident memory.

    python bench/plan.py --subscribers 1000000 [--database-url postgresql://...]

The CSV mixes time zones (on both sides of midnight UTC), delivery hours and section
choices; one section has no articles, so its readers get no e-mail. The database is a
scratch one (on the PostgreSQL server given, or SQLite in a temporary directory) and
Redis an embedded one; both are gone at the end. Nothing is sent: this is about the
database and memory. The last line reads
`plan N=1000000 db=postgresql: import 41.2 s, plan 30.5 s, peak RSS 120 MB`.
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import sys
import tempfile
import time
from contextlib import ExitStack, redirect_stdout
from datetime import UTC, date, datetime
from io import StringIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.database import add_database_option, bench_database  # noqa: E402
from mailer import services  # noqa: E402
from mailer.articles.model import Article  # noqa: E402
from mailer.cli import cli  # noqa: E402
from mailer.config import load_settings  # noqa: E402
from mailer.db import make_engine, upgrade  # noqa: E402
from mailer.local.embedded import RedisServer  # noqa: E402
from mailer.services import make_planner  # noqa: E402
from worker.producer import CeleryJobQueue  # noqa: E402

EDITION = date(2026, 11, 26)
ZONES = ["Asia/Baku", "Europe/London", "America/New_York", "Asia/Tokyo", "Europe/Berlin",
         "America/Los_Angeles", "Asia/Kolkata", "Pacific/Auckland"]
SECTIONS = ["politics", "economy;politics", "politics|society", "world", "culture",
            "economy;politics;society;world", ""]
DOMAINS = ["gmail.com", "mail.ru", "yahoo.com", "outlook.com", "today.az", "box.az",
           *(f"company{i}.az" for i in range(200))]


def write_csv(path: Path, count: int) -> None:
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["email", "name", "sections", "timezone", "hour"])
        for i in range(count):
            writer.writerow([f"reader.{i}@{DOMAINS[i * 7 % len(DOMAINS)]}", f"Reader {i}",
                             SECTIONS[i % len(SECTIONS)], ZONES[i % len(ZONES)],
                             (i // 3) % 24])


def articles() -> list[Article]:
    """Two articles a section but Culture, across the day in UTC."""
    return [Article.model_validate({
        "id": f"story-{section.lower()}-{i}", "title": f"{section} story {i}", "section": section,
        "published": f"2026-11-26T{6 + 8 * i:02d}:00:00+00:00",
        "url": f"https://www.today.az/news/{section.lower()}-{i}.html", "lead": "A lead."})
        for section in ("Politics", "Economy", "Society", "World") for i in range(2)]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=500)
    add_database_option(parser)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="plan-bench-") as tmp, ExitStack() as stack:
        var = Path(tmp)
        kind, database_url = bench_database(stack, args.database_url, var, "mailer_plan")
        redis_server = RedisServer(var / "redis").start()
        stack.callback(redis_server.stop)
        settings = load_settings(redis_url=redis_server.url, var_dir=var,
                                 database_url=database_url,
                                 digest_batch_size=args.batch_size)
        engine = make_engine(settings.database)
        upgrade(engine)
        engine.dispose()
        stores = services.stores(settings, seed=False)
        stores.articles.put_many(articles())
        listing = var / "subscribers.csv"
        write_csv(listing, args.subscribers)
        print(f"setup: {args.subscribers:,} subscribers in a {listing.stat().st_size >> 20} MB "
              f"CSV; {len(ZONES)} zones, 24 hours, {len(SECTIONS)} section choices; {kind}",
              flush=True)
        baseline = peak_rss_mb()

        os.environ.update(MAILER_DATABASE_URL=database_url, MAILER_REDIS_URL=redis_server.url,
                          MAILER_VAR_DIR=str(var))
        output = StringIO()
        started = time.monotonic()
        with redirect_stdout(output):
            code = cli.main(["subscribers", "import", str(listing), "--no-progress"],
                            prog_name="mailer", standalone_mode=False)
        imported = time.monotonic() - started
        if code:
            raise SystemExit(f"import failed with exit code {code}")
        print(f"import: {output.getvalue().strip()}")

        queue = CeleryJobQueue(settings)
        stack.callback(queue.close)
        started = time.monotonic()
        report = make_planner(settings, stores, queue).plan(datetime.now(UTC), EDITION)
        planned = time.monotonic() - started
        print(f"plan: {report.planned:,} digests in {report.batches:,} batches; "
              f"{report.without_articles:,} subscribers without articles")
        if report.planned + report.without_articles != args.subscribers:
            raise SystemExit("planning missed subscribers")
    rss = peak_rss_mb()
    print(f"memory: {baseline:.0f} MB after setup (libraries loaded, nothing imported), "
          f"{rss:.0f} MB peak")
    print(f"plan N={args.subscribers} db={kind}: import {imported:.1f} s, plan {planned:.1f} s, "
          f"peak RSS {rss:.0f} MB")


if __name__ == "__main__":
    main()
