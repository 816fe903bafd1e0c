"""Where a digest message's CPU goes: one worker's work (the batch task's body,
`DigestSender.send_batch`) run in this process under cProfile, on batches planned by
the real planner, sent over SMTP into Postfix's smtp-sink, and the profile summed by
phase. What docs/benchmarks.md's table "where a message's time goes" is made from.

    python bench/profile_digest.py [--subscribers 20000] [--dkim] [--database-url ...]
                                   [--top 25]

Celery's own share (taking the task from Redis, acknowledging it) is not here: it is
per batch of 500, and bench/digest.py's CPU line counts it with the rest. The last line
reads `profile N=20000 db=sqlite: 412 us CPU per e-mail in the worker`.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import select  # noqa: E402

from bench.database import add_database_option, bench_database  # noqa: E402
from bench.digest import EDITION, articles, subscribers, tool  # noqa: E402
from mailer import services  # noqa: E402
from mailer.config import load_settings  # noqa: E402
from mailer.db import make_engine, upgrade  # noqa: E402
from mailer.local.embedded import RedisServer, free_port  # noqa: E402
from mailer.models import DeliveryRow  # noqa: E402
from mailer.sending.dkim import generate_key  # noqa: E402
from worker.producer import CeleryJobQueue  # noqa: E402

# Phase: the functions whose cumulative time it is (file fragment, function name). A
# function under another phase's function counts in both; the table says so.
PHASES: list[tuple[str, list[tuple[str, str]]]] = [
    ("claim the batch's rows (ledger)", [("ledger/store.py", "claim_many")]),
    ("read the readers", [("subscriptions/store.py", "get_many")]),
    ("suppression check", [("delivery/suppression.py", "suppressed")]),
    ("alerted stories check", [("ledger/", "alerted")]),
    ("render a variant (once per variant)", [("digest/send.py", "_template")]),
    ("a reader's message (tokens, splice)", [("digest/compose.py", "envelope")]),
    ("  of which: signed tokens", [("mailer/tokens.py", "make")]),
    ("  of which: return path", [("mailer/tokens.py", "return_path"),
                                 ("sending/message.py", "__call__")]),
    ("DKIM signing", [("sending/dkim.py", "sign")]),
    ("SMTP session (less waiting for replies)", SESSION := [("sending/pipelining.py", "run")]),
    ("  of which: socket writes", [("~", "<method 'sendall' of '_socket.socket' objects>")]),
    ("  of which: reading replies", REPLIES := [("sending/smtp_wire.py", "read_reply")]),
    ("pacing (send-rate slots)", [("limits/pacing.py", "admit")]),
    ("each reply's after-effects (in the session)", [("delivery/outcomes.py", "take"),
                                                    ("delivery/outcomes.py", "finish")]),
    ("  of which: attempt log (JSON lines)", [("delivery/attempts.py", "add"),
                                              ("delivery/attempts.py", "flush"),
                                              ("delivery/attempts.py", "log_attempt")]),
    ("  of which: ledger writes", [("ledger/store.py", "record_now")]),
    ("  of which: metrics to Redis", [("delivery/recorder.py", "flush")]),
]


WAITS = [("~", "<method 'recv_into' of '_socket.socket' objects>"),
         ("~", "<method 'recv' of '_socket.socket' objects>")]


def phase_seconds(stats: pstats.Stats, functions: list[tuple[str, str]]) -> float:
    total = 0.0
    for (path, _, name), row in stats.stats.items():  # type: ignore[attr-defined]
        if any(fragment in path and name == wanted for fragment, wanted in functions):
            total += row[3]  # cumulative time
    return total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=20_000)
    parser.add_argument("--dkim", action="store_true")
    parser.add_argument("--top", type=int, default=0,
                        help="also print the N functions with the most time of their own")
    add_database_option(parser)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="digest-profile-") as tmp, ExitStack() as stack:
        var = Path(tmp)
        kind, database_url = bench_database(stack, args.database_url, var, "mailer_profile")
        redis_server = RedisServer(var / "redis").start()
        stack.callback(redis_server.stop)
        port = free_port()
        sink = subprocess.Popen([tool("smtp-sink"), "-u", "nobody", f"127.0.0.1:{port}",
                                 "1000"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        stack.callback(sink.wait)
        stack.callback(sink.terminate)
        signing: dict[str, object] = {}
        if args.dkim:
            key = var / "dkim.pem"
            key.write_bytes(generate_key(2048)[0])
            signing = {"dkim_key_file": key, "dkim_selector": "bench"}
        settings = load_settings(redis_url=redis_server.url, var_dir=var, demo=True,
                                 smtp_url=f"smtp://127.0.0.1:{port}?timeout=30",
                                 digest_window_hours=23, database_url=database_url,
                                 delivery_log=True, **signing)
        engine = make_engine(settings.database)
        upgrade(engine)
        engine.dispose()
        stores = stack.enter_context(services.stores(settings, seed=False))
        stores.articles.put_many(articles())
        stores.subscribers.import_active(subscribers(args.subscribers))
        queue = CeleryJobQueue(settings)  # the batches it queues are left unread
        stack.callback(queue.close)
        report = services.make_planner(settings, stores, queue).plan(datetime.now(UTC),
                                                                     EDITION)
        with stores.sessions() as session:
            ids = list(session.scalars(select(DeliveryRow.id).where(
                DeliveryRow.run_id == report.run_id).order_by(DeliveryRow.id)))
        local = stack.enter_context(services.worker_services(settings, queue))
        size = settings.digest_batch_size
        batches = [ids[i:i + size] for i in range(0, len(ids), size)]
        local.digest_sender.send_batch(batches[0], report.run_id)  # warm: connect, render
        # The first half measures the CPU a message costs, the second where it goes:
        # the profiler's own overhead would inflate the first.
        half = (len(batches) + 1) // 2
        timed, profiled_batches = batches[1:half], batches[half:]
        cpu, wall = time.process_time(), time.monotonic()
        sent = sum(local.digest_sender.send_batch(b, report.run_id).sent for b in timed)
        cpu, wall = time.process_time() - cpu, time.monotonic() - wall
        measured = sum(len(b) for b in timed)
        assert sent == measured, (sent, measured)
        profile = cProfile.Profile()
        profile.enable()
        sent = sum(local.digest_sender.send_batch(b, report.run_id).sent
                   for b in profiled_batches)
        profile.disable()
        assert sent == sum(len(b) for b in profiled_batches)
    stats = pstats.Stats(profile)
    # Wall time, with the waits for the sink's replies (the socket's recv) taken out:
    # a CPU-time profiler's own clock costs more than the small functions it times.
    waiting = phase_seconds(stats, WAITS)
    profiled = sum(row[2] for row in stats.stats.values()) - waiting  # type: ignore[attr-defined]
    print(f"{measured} e-mails in {len(timed)} batches, {wall:.1f} s ({cpu:.1f} s CPU), "
          f"{kind}{', DKIM' if args.dkim else ''}; then {sum(map(len, profiled_batches))} "
          "profiled")
    print(f"{'phase':<46}{'share':>7}{'us/e-mail':>11}")
    per = cpu / measured * 1e6
    for name, functions in PHASES:
        spent = phase_seconds(stats, functions)
        if functions is SESSION or functions is REPLIES:
            spent -= waiting  # the socket's recv is inside both
        share = spent / profiled
        print(f"{name:<46}{100 * share:>6.1f}%{share * per:>11.0f}")
    if args.top:
        stats.sort_stats("tottime").print_stats(args.top)
    print(f"profile N={args.subscribers} db={kind}: {per:.0f} us CPU per e-mail in the "
          f"worker")


if __name__ == "__main__":
    main()
