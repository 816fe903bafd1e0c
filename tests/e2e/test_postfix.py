"""Through a real MTA: Debian's Postfix, an instance of our own (its own config, queue
and log directories, loopback ports), relaying to the recording SMTP server. One port
offers no 8BITMIME (`smtpd_discard_ehlo_keywords`), as some relays do; a recipient
access map answers 451 for one address until the test takes the entry out.

The API (uvicorn) takes the shares and a real `celery worker` sends them. `.ci/run`
installs Postfix (Debian package `postfix`); elsewhere these tests are skipped with
the reason.
"""

from __future__ import annotations

import email
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email import policy

import httpx
import pytest
import redis

from mailer.config import load_settings
from mailer.db import make_engine, upgrade
from mailer.local.embedded import ApiServer, RedisServer, WorkerProcess, free_port, worker_env
from mailer.web.app import create_app
from tests.conftest import NO_FLOOD_LIMITS, TEST_SECRET
from tests.e2e.conftest import wait_for_job
from tests.support.postfix import NEEDS_POSTFIX, Postfix, private_postfix
from tests.support.smtp import Received, RecordingHandler

pytestmark = NEEDS_POSTFIX
ARTICLE = "non-aligned-movement-support-to-azerbaijan-over-karabakh-significant"
LATER = "later@example.org"


@dataclass
class Relay:
    """The private Postfix: one port offers 8BITMIME, the other does not."""

    instance: Postfix
    port: int
    port_7bit: int

    def set_access(self, table: str) -> None:
        """Rewrite the recipient access map; a reload makes new smtpd processes read it."""
        self.instance.write("access", table)
        self.instance.postfix("reload")

    def log(self) -> str:
        return self.instance.log()


@pytest.fixture(scope="module")
def postfix(smtp_port: int) -> Iterator[Relay]:
    port, port_7bit = free_port(), free_port()
    listeners = [f"127.0.0.1:{port} inet n - n - - smtpd",
                 f"127.0.0.1:{port_7bit} inet n - n - - smtpd"
                 " -o smtpd_discard_ehlo_keywords=8bitmime"]
    extra = ("smtpd_recipient_restrictions = check_recipient_access texthash:"
             "$config_directory/access, permit_mynetworks, reject\nsmtputf8_enable = yes\n")
    with private_postfix(listeners, smtp_port, extra,
                         {"access": f"{LATER} 451 4.3.0 try again later\n"},
                         ready_port=port_7bit) as instance:
        yield Relay(instance, port, port_7bit)


@pytest.fixture(scope="module")
def api(postfix: Relay, redis_server: RedisServer,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    """Shares go to the port without 8BITMIME; retried every second or so."""
    url = f"redis://127.0.0.1:{redis_server.port}/9"
    redis.Redis.from_url(url).flushdb()
    settings = load_settings(
        redis_url=url, secret_key=TEST_SECRET, var_dir=tmp_path_factory.mktemp("postfix-var"),
        smtp_url=f"smtp://127.0.0.1:{postfix.port_7bit}?timeout=10", retry_base_seconds=0.5,
        retry_max_seconds=1.0, **NO_FLOOD_LIMITS)
    engine = make_engine(settings.database)
    upgrade(engine)
    engine.dispose()
    worker = WorkerProcess(worker_env(settings), settings.var_dir / "worker.log").start()
    server = ApiServer(create_app(settings)).start()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            yield client
    finally:
        server.stop()
        worker.stop()
        redis.Redis.from_url(url).flushdb()


def share(api: httpx.Client, friend_email: str) -> str:
    response = api.post("/share", json={
        "article_id": ARTICLE, "sender_name": "Ləman Əliyeva",
        "sender_email": "leman@example.com", "friend_name": "Vüqar Şirinov",
        "friend_email": friend_email,
        "message": "Salam! Bu məqaləni oxu — çox maraqlıdır. Görüşərik ğ ı ö ü ç ş."})
    assert response.status_code == 202, response.text
    return str(response.json()["job_id"])


def arrived(handler: RecordingHandler, recipient: str, postfix: Relay,
            timeout: float = 30) -> Received:
    deadline = time.monotonic() + timeout
    while not handler.for_recipient(recipient):
        if time.monotonic() > deadline:
            raise AssertionError(f"nothing for {recipient} from Postfix; its log:\n"
                                 + postfix.log()[-3000:])
        time.sleep(0.1)
    return handler.for_recipient(recipient)[0]


def test_a_relay_without_8bitmime_gets_7bit_mail_that_reads_exactly(
        api: httpx.Client, postfix: Relay, smtp: RecordingHandler) -> None:
    job = wait_for_job(api, share(api, "vuqar@example.org"), {"sent", "failed"})
    assert job["status"] == "sent", job
    got = arrived(smtp, "vuqar@example.org", postfix)
    assert got.data.isascii(), "8bit data went to a relay that did not offer 8BITMIME"
    assert "BODY=8BITMIME" not in got.mail_options
    msg = email.message_from_bytes(got.data, policy=policy.default)
    assert "relay.test" in str(msg["Received"]), "it went through Postfix"
    assert msg["From"].addresses[0].display_name == "Ləman Əliyeva via TODAY.AZ"
    assert msg["To"].addresses[0].display_name == "Vüqar Şirinov"
    plain, html = (part for part in msg.walk() if not part.is_multipart())
    assert plain["Content-Transfer-Encoding"] == "quoted-printable"
    note = "Salam! Bu məqaləni oxu — çox maraqlıdır. Görüşərik ğ ı ö ü ç ş."
    assert note in plain.get_content()
    assert "Vüqar Şirinov" in html.get_content()


def test_a_451_from_the_access_map_defers_then_the_share_goes_through(
        api: httpx.Client, postfix: Relay, smtp: RecordingHandler) -> None:
    job_id = share(api, LATER)
    job = wait_for_job(api, job_id, {"deferred", "sent", "failed"})
    assert job["status"] == "deferred", job
    assert "451 RCPT TO: 4.3.0" in str(job["last_reply"])
    assert "try again later" in str(job["last_reply"])
    postfix.set_access("")  # the relay's table no longer holds the address back
    job = wait_for_job(api, job_id, {"sent", "failed"}, timeout=60)
    assert job["status"] == "sent", job
    assert int(str(job["attempts"])) >= 2
    got = arrived(smtp, LATER, postfix)
    assert got.data.isascii()
