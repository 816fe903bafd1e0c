"""Shared send-rate limit: configured rate against achieved rate with 1, 2 and 4
worker processes taking slots from one Redis, and what a slot costs.

Baseline, side by side: a limit kept in each process's memory (what Celery's
`rate_limit` task option does), which multiplies with the number of processes.

    python bench/ratelimit.py [--rate 50] [--seconds 10]

Each process loops: take a slot (sleeping until it is due), note the time. The
achieved rate is the slots taken in the measuring window over its length; the first
half second is left out so every process has started. The overhead is the mean time
one slot takes to reserve when the limit never makes anyone wait (a rate of 1e6/s),
measured against a private redis-server on loopback.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

from mailer.limits.buckets import MemoryBuckets, RedisBuckets  # noqa: E402
from mailer.limits.pacing import Pacer, PacingPolicy  # noqa: E402
from mailer.limits.parsing import Rate  # noqa: E402
from mailer.local.embedded import RedisServer  # noqa: E402

WARM_UP = 0.5
RECIPIENT = "reader@example.org"


def take_slots(url: str | None, rate: float, start: float, stop: float,
               out: mp.Queue) -> None:
    buckets = RedisBuckets(redis.Redis.from_url(url)) if url else MemoryBuckets()
    pacer = Pacer(buckets, PacingPolicy(share_lane_reserve=0, share_max_wait=60))
    while time.time() < start:
        time.sleep(0.001)
    taken = []
    while time.time() < stop:
        pacer.admit("bench", Rate(rate), "share", RECIPIENT)
        taken.append(time.time())
    out.put([t for t in taken if start + WARM_UP <= t < stop])


def achieved(url: str | None, rate: float, workers: int, seconds: float) -> float:
    if url:
        redis.Redis.from_url(url).flushdb()
    out: mp.Queue = mp.Queue()
    start = time.time() + 0.5
    procs = [mp.Process(target=take_slots, args=(url, rate, start, start + seconds, out))
             for _ in range(workers)]
    for proc in procs:
        proc.start()
    slots = [t for _ in procs for t in out.get()]
    for proc in procs:
        proc.join()
    return len(slots) / (seconds - WARM_UP)


def overhead_ms(url: str, count: int = 20_000) -> float:
    pacer = Pacer(RedisBuckets(redis.Redis.from_url(url)), PacingPolicy(share_lane_reserve=0))
    for _ in range(500):
        pacer.admit("overhead", Rate(1e6), "share", RECIPIENT)
    began = time.perf_counter()
    for _ in range(count):
        pacer.admit("overhead", Rate(1e6), "share", RECIPIENT)
    return (time.perf_counter() - began) / count * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = RedisServer(Path(tmp)).start()
        try:
            url = server.url
            print(f"configured rate {args.rate:g}/s, {args.seconds:g} s per run")
            print(f"{'workers':>7}  {'shared (Redis)':>16}  {'deviation':>9}  "
                  f"{'per-process (baseline)':>22}")
            ours = {}
            for workers in (1, 2, 4):
                ours[workers] = achieved(url, args.rate, workers, args.seconds)
                local = achieved(None, args.rate, workers, min(args.seconds, 3))
                deviation = (ours[workers] - args.rate) / args.rate * 100
                print(f"{workers:>7}  {ours[workers]:>14.1f}/s  {deviation:>+8.1f}%  "
                      f"{local:>20.1f}/s")
            cost = overhead_ms(url)
            print(f"overhead: {cost:.3f} ms per slot (one Lua script call to Redis)")
        finally:
            server.stop()
    print(f"ratelimit configured {args.rate:g}/s: achieved {ours[1]:.1f}/s (1 worker), "
          f"{ours[2]:.1f}/s (2), {ours[4]:.1f}/s (4); overhead {cost:.2f} ms")


if __name__ == "__main__":
    main()
