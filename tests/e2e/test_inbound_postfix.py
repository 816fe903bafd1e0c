"""Returned mail through a real MTA, end to end: Debian's Postfix (an instance of our
own on loopback, as in test_postfix.py) relays our shares to an SMTP server further
on that refuses one recipient (550 5.1.1) and holds another back (451). Postfix then
writes real DSNs to the message's return path (MAILER_BOUNCE_ADDRESS), and its
transport map hands the bounce domain's mail, and the unsubscribe mailbox's, to
`mailer inbound serve --lmtp` (a process of its own, as systemd runs it).

The API (uvicorn) takes the shares and a real `celery worker` sends them. Skipped with
the reason where Postfix is missing.
"""

from __future__ import annotations

import smtplib
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
import redis
from sqlalchemy import select

from mailer import services
from mailer.config import Settings, load_settings
from mailer.db import upgrade
from mailer.local.embedded import ApiServer, RedisServer, WorkerProcess, free_port, worker_env
from mailer.local.sink import start_sink
from mailer.models import FeedbackRow
from mailer.stores import Stores
from mailer.subscriptions.model import Preferences, SignUp
from mailer.tokens import Purpose
from mailer.web.app import create_app
from tests.conftest import NO_FLOOD_LIMITS, TEST_SECRET
from tests.e2e.conftest import wait_for_job
from tests.support.postfix import NEEDS_POSTFIX, listening, private_postfix
from tests.support.returned import BOUNCES, unsubscribe_mail
from tests.support.smtp import RecordingHandler

pytestmark = NEEDS_POSTFIX
ARTICLE = "non-aligned-movement-support-to-azerbaijan-over-karabakh-significant"
GONE, LATER = "gone@example.org", "later@example.org"


@pytest.fixture(scope="module")
def settings(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[Settings]:
    """Postfix on one port; mail leaving it goes to a server that refuses GONE at RCPT
    and holds LATER back; mail to the bounce domain and the unsubscribe mailbox goes to
    `mailer inbound serve --lmtp` over the transport map."""
    further_on = RecordingHandler()
    further_on.refuse_rcpt = {GONE: "550 5.1.1 <gone@example.org>: Recipient address "
                                    "rejected: User unknown in virtual mailbox table",
                              LATER: "451 4.2.0 <later@example.org>: try again later"}
    sink_port, postfix_port, inbound_port = free_port(), free_port(), free_port()
    sink = start_sink(tmp_path_factory.mktemp("unused"), port=sink_port, handler=further_on)
    lmtp = f"lmtp:inet:127.0.0.1:{inbound_port}"
    url = f"redis://127.0.0.1:{redis_server.port}/8"
    redis.Redis.from_url(url).flushdb()
    var = tmp_path_factory.mktemp("inbound-var")
    built = load_settings(
        redis_url=url, secret_key=TEST_SECRET, var_dir=var, bounce_address=BOUNCES,
        smtp_url=f"smtp://127.0.0.1:{postfix_port}?timeout=10", **NO_FLOOD_LIMITS)
    with services.database(built) as engine:
        upgrade(engine)
    with (var / "inbound.log").open("wb") as log:
        inbound = subprocess.Popen(
            [sys.executable, "-m", "mailer.cli", "inbound", "serve", "--lmtp", "--port",
             str(inbound_port)], env=worker_env(built), stdout=log, stderr=log)
    try:
        with private_postfix(
                [f"127.0.0.1:{postfix_port} inet n - n - - smtpd"], sink_port,
                "transport_maps = texthash:$config_directory/transport\n"
                "delay_warning_time = 1s\n",
                {"transport": f"bounces.today.az {lmtp}\nunsubscribe@today.az {lmtp}\n"},
                ready_port=postfix_port):
            listening(inbound_port, 30)
            yield built.model_copy(update={"smtp_url": f"smtp://127.0.0.1:{postfix_port}"})
    finally:
        inbound.terminate()
        inbound.wait(timeout=30)
        sink.stop()


@pytest.fixture(scope="module")
def api(settings: Settings) -> Iterator[httpx.Client]:
    worker = WorkerProcess(worker_env(settings), settings.var_dir / "worker.log").start()
    server = ApiServer(create_app(settings)).start()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            yield client
    finally:
        server.stop()
        worker.stop()


@pytest.fixture
def stores(settings: Settings) -> Iterator[Stores]:
    with services.stores(settings, seed=False) as opened:
        yield opened


def share(api: httpx.Client, friend_email: str) -> str:
    response = api.post("/share", json={
        "article_id": ARTICLE, "sender_name": "Ləman Əliyeva",
        "sender_email": "leman@example.com", "friend_name": "Vüqar",
        "friend_email": friend_email, "message": "Salam!"})
    assert response.status_code == 202, response.text
    return str(response.json()["job_id"])


def eventually(check: Callable[[], bool], settings: Settings, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            logs = "\n".join(
                path.read_text(errors="replace")[-2000:] for path in
                (settings.var_dir / "inbound.log",) if path.exists())
            raise AssertionError(f"not within {timeout} s; the receiver's log:\n{logs}")
        time.sleep(0.2)


def feedback(stores: Stores, address: str) -> list[tuple[str, str, str]]:
    with stores.sessions.begin() as session:
        return [(row.type, row.token, row.action) for row in session.scalars(
            select(FeedbackRow).where(FeedbackRow.address == address))]


def test_a_recipient_unknown_further_on_is_suppressed_by_postfixs_own_dsn(
        api: httpx.Client, settings: Settings, stores: Stores) -> None:
    job_id = share(api, GONE)
    job = wait_for_job(api, job_id, {"sent", "bounced", "failed"})
    assert job["status"] != "failed", job  # Postfix took it; the refusal came later
    sent_at = time.monotonic()
    eventually(lambda: stores.suppressions.suppressed([GONE]) == {GONE}, settings)
    assert time.monotonic() - sent_at < 15
    record = stores.ledger.get(job_id)
    assert record is not None and record.status.value == "bounced"
    assert "5.1.1" in record.last_reply
    assert feedback(stores, GONE) == [("bounce", "ours", "suppressed")]


def test_a_delay_warning_suppresses_no_one(api: httpx.Client, settings: Settings,
                                           stores: Stores) -> None:
    job_id = share(api, LATER)
    assert wait_for_job(api, job_id, {"sent", "failed"})["status"] == "sent"
    eventually(lambda: ("delay", "ours", "counted") in feedback(stores, LATER), settings)
    assert stores.suppressions.suppressed([LATER]) == set()
    record = stores.ledger.get(job_id)
    assert record is not None and record.status.value == "sent"


def test_an_unsubscribe_mail_through_postfix_unsubscribes(settings: Settings,
                                                          stores: Stores) -> None:
    reader = stores.subscribers.add_active(SignUp("omar@example.org", "Omar", Preferences(
        ("politics",), "Asia/Baku", 7)))
    token = services.make_tokens(settings).make(Purpose.UNSUBSCRIBE, reader.id)
    with smtplib.SMTP(settings.smtp.host, settings.smtp.port, timeout=10) as postfix:
        postfix.sendmail("omar@example.org", ["unsubscribe@today.az"],
                         unsubscribe_mail(token))
    eventually(lambda: stores.subscribers.get(reader.id).status.value == "unsubscribed",
               settings)
