"""Fault 3: Redis (the broker, with its append-only file on) is restarted, or killed
and started again, while readers share articles and workers send them. While it is
away the API answers 503 with Retry-After, never a 500; every share it accepted (202)
is delivered."""

from __future__ import annotations

import threading
import time
from collections import Counter

import httpx
import pytest

from mailer.delivery.ledger import JobStatus
from mailer.local.embedded import ApiServer
from mailer.web.app import create_app
from tests.faults.conftest import ARTICLE, FaultStack, duplicates

LIMITS = {name: "100000/h" for name in (
    "share_limit_per_ip", "share_limit_per_sender", "share_limit_per_recipient",
    "share_limit_per_article", "share_limit_total")}


@pytest.mark.parametrize("how", ["restart", "crash"])
def test_redis_restarted_under_load(stack: FaultStack, how: str) -> None:
    # The sweeper runs every 2 s and takes a queued share as lost after 10 s.
    settings = stack.configure(sweep_seconds=2, requeue_seconds=10, send_lease_seconds=10,
                               retry_base_seconds=1, retry_max_seconds=4, **LIMITS)
    stack.worker("share", queues="share", concurrency=2)
    stack.supervise()
    stack.beat("beat")
    server = ApiServer(create_app(settings)).start()
    accepted: list[str] = []
    statuses: Counter[int] = Counter()
    without_retry_after: list[int] = []
    stop = threading.Event()
    lock = threading.Lock()

    def reader(who: int) -> None:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            n = 0
            while not stop.is_set():
                n += 1
                response = client.post("/share", json={
                    "article_id": ARTICLE, "sender_name": f"Reader {who}",
                    "sender_email": f"reader{who}@example.org", "friend_name": "Friend",
                    "friend_email": f"friend{who}-{n}@example.net"})
                with lock:
                    statuses[response.status_code] += 1
                    if response.status_code == 202:
                        accepted.append(response.json()["job_id"])
                    elif response.status_code == 503 and "retry-after" not in response.headers:
                        without_retry_after.append(n)
                time.sleep(0.01)

    readers = [threading.Thread(target=reader, args=(i,)) for i in range(3)]
    try:
        for thread in readers:
            thread.start()
        time.sleep(3)
        if how == "crash":
            # SIGKILL: with `appendfsync always` every acknowledged write is on disk.
            assert stack.redis.proc is not None
            stack.redis.proc.kill()
            stack.redis.proc.wait()
        else:
            stack.redis.stop()  # SIGTERM: what `systemctl restart redis` does first
        before_restart = len(accepted)
        time.sleep(4)
        stack.redis.start()
        time.sleep(4)
        stop.set()
        for thread in readers:
            thread.join(timeout=60)
        stack.wait_jobs_final(accepted, timeout=60)
        counts = stack.stores.ledger.kind_counts("share")
    finally:
        stop.set()
        server.stop()
    print(f"\n{how}: statuses {dict(statuses)}; {before_restart} accepted before the restart, "
          f"{len(accepted)} in all; ledger {dict(counts)}; worker restarted "
          f"{stack.restarts} time(s)")
    assert set(statuses) <= {202, 503}, statuses
    assert statuses[503] > 0, "the API never noticed Redis was away"
    assert without_retry_after == []
    assert len(accepted) > before_restart > 0, "shares were accepted before and after"
    for job_id in accepted:
        record = stack.stores.ledger.get(job_id)
        assert record is not None and record.status is JobStatus.SENT, record
    received = stack.per_recipient()
    assert len(received) == len(accepted)
    assert duplicates(received) == 0
