"""Fault 4: the database becomes unreachable for a while (a TCP proxy in front of
PostgreSQL is cut: new connections refused, open ones reset) while shares are being
sent. The API answers 503 with Retry-After; workers defer and retry; when the database
is back every accepted share is delivered.

PostgreSQL only: SQLite is a file, and a file does not go away like a server."""

from __future__ import annotations

import time

import httpx
import pytest
from sqlalchemy import make_url

from mailer.db import normalise_url
from mailer.delivery.ledger import JobStatus
from mailer.local.embedded import ApiServer
from mailer.web.app import create_app
from tests.conftest import POSTGRES_URL, empty_tables
from tests.faults.conftest import ARTICLE, FaultStack, duplicates
from tests.support.proxy import TcpProxy

SHARES = 40
OUTAGE_SECONDS = 12


@pytest.mark.skipif(not POSTGRES_URL, reason="needs PostgreSQL (MAILER_TEST_DATABASE_URL)")
def test_database_unreachable_for_a_while(stack: FaultStack, postgres_url: str) -> None:
    empty_tables(postgres_url)
    real = make_url(normalise_url(postgres_url))
    proxy = TcpProxy(real.port or 5432).start()
    proxied = real.set(host="127.0.0.1", port=proxy.port).render_as_string(
        hide_password=False)
    settings = stack.configure(database_url=proxied, send_lease_seconds=5,
                               retry_base_seconds=1, retry_max_seconds=4,
                               sweep_seconds=2, requeue_seconds=30)
    stack.handler.delay = 0.05  # sends are still going on when the database goes
    stack.worker("share", queues="share", concurrency=2)
    stack.beat("beat")
    server = ApiServer(create_app(settings)).start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            accepted = []
            for n in range(SHARES):
                response = client.post("/share", json={
                    "article_id": ARTICLE, "sender_name": "Reader",
                    "sender_email": "reader@example.org", "friend_name": "Friend",
                    "friend_email": f"friend{n}@example.net"})
                assert response.status_code == 202, response.text
                accepted.append(response.json()["job_id"])
            deadline = time.monotonic() + 30
            while len(stack.handler.received) < 5:
                assert time.monotonic() < deadline, "nothing was sent"
                time.sleep(0.01)
            proxy.cut()
            sent_before = len(stack.handler.received)
            refused = client.post("/share", json={
                "article_id": ARTICLE, "sender_name": "Reader",
                "sender_email": "reader@example.org", "friend_name": "Friend",
                "friend_email": "late@example.net"})
            time.sleep(OUTAGE_SECONDS)
            sent_during = len(stack.handler.received) - sent_before
            proxy.start()
            stack.wait_jobs_final(accepted, timeout=60)
            statuses = {j: stack.stores.ledger.get(j).status  # type: ignore[union-attr]
                        for j in accepted}
    finally:
        server.stop()
        proxy.cut()
    assert refused.status_code == 503 and "retry-after" in refused.headers, refused.text
    assert "database" in refused.json()["detail"]
    assert sent_before < SHARES, "all was sent before the database went"
    assert set(statuses.values()) == {JobStatus.SENT}
    received = stack.per_recipient()
    assert {f"friend{n}@example.net" for n in range(SHARES)} == set(received)
    extra = duplicates(received)
    print(f"\ndatabase cut after {sent_before} of {SHARES} sends; {sent_during} more went "
          f"out during the outage (unrecorded); {extra} duplicate(s)")
    # A worker that sent a share while the database was away keeps its outcome and
    # records it when the database is back, within its lease: nothing is sent twice.
    assert extra == 0
