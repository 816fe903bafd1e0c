"""`mailer inbound serve`'s server over real SMTP and LMTP (smtplib and a raw socket),
on a real database (SQLite, and PostgreSQL where configured): what it takes, what it
refuses, what it answers when the database is away, and hostile input."""

from __future__ import annotations

import smtplib
import socket
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import text

from mailer import services
from mailer.config import Settings
from mailer.inbound.receiver import Receiver
from mailer.local.embedded import free_port
from mailer.stores import Stores
from mailer.subscriptions.model import Preferences, SignUp
from mailer.tokens import Purpose
from tests.conftest import POSTGRES_URL, empty_database
from tests.support.proxy import TcpProxy
from tests.support.returned import BOUNCES, READER, dsn, return_path, sent, unsubscribe_mail


@contextmanager
def receiving(settings: Settings, lmtp: bool = False) -> Iterator[Receiver]:
    with services.stores(settings, seed=False) as opened:
        receiver = services.make_receiver(settings, opened, host="127.0.0.1",
                                          port=free_port(), lmtp=lmtp)
        receiver.start()
        try:
            yield receiver
        finally:
            receiver.stop()


@pytest.fixture
def receiver(settings: Settings, stores: Stores) -> Iterator[Receiver]:
    with receiving(settings) as running:
        yield running


def client(receiver: Receiver) -> smtplib.SMTP:
    return smtplib.SMTP("127.0.0.1", receiver.port, timeout=30)


def kept(settings: Settings, folder: str) -> list[Path]:
    return sorted((settings.var_dir / "inbound" / folder).glob("*.eml"))


@pytest.mark.parametrize("lmtp", [False, True], ids=["smtp", "lmtp"])
def test_a_dsn_to_our_return_path_suppresses_its_reader(
        settings: Settings, stores: Stores, lmtp: bool) -> None:
    to = return_path(settings, sent(stores))
    with receiving(settings, lmtp=lmtp) as running:
        talk = smtplib.LMTP if lmtp else smtplib.SMTP
        with talk("127.0.0.1", running.port, timeout=30) as smtp:
            assert smtp.sendmail("", [to.upper()], dsn(to)) == {}
    assert stores.suppressions.suppressed([READER]) == {READER}


@pytest.mark.parametrize("address", ["postmaster@bounces.today.az", "someone@example.org",
                                     "bounces@example.org", "bounces@bounces.today.az.evil.org",
                                     "unsubscribe@bounces.today.az", "bounces"])
def test_any_other_address_is_refused_never_relayed(receiver: Receiver, address: str) -> None:
    with client(receiver) as smtp:
        smtp.ehlo()
        smtp.mail("")
        code, reply = smtp.rcpt(address)
    assert code == 550 and reply.startswith(b"5.1.1"), (code, reply)


def test_without_a_bounce_address_only_the_unsubscribe_mailbox_is_taken(
        make_settings: Callable[..., Settings], sessions: object) -> None:
    with receiving(make_settings()) as running, client(running) as smtp:
        smtp.ehlo()
        smtp.mail("")
        assert smtp.rcpt(BOUNCES)[0] == 550
        assert smtp.rcpt("Unsubscribe+x@TODAY.AZ")[0] == 250


def test_unsubscribe_mail_over_smtp_unsubscribes(settings: Settings, stores: Stores,
                                                 receiver: Receiver) -> None:
    reader = stores.subscribers.add_active(SignUp(READER, "Leyla", Preferences(
        ("politics",), "Asia/Baku", 7)))
    token = services.make_tokens(settings).make(Purpose.UNSUBSCRIBE, reader.id)
    with client(receiver) as smtp:
        smtp.sendmail(READER, ["unsubscribe@today.az"], unsubscribe_mail(token))
    assert stores.subscribers.get(reader.id).status.value == "unsubscribed"


def test_lmtp_answers_once_per_recipient(settings: Settings, stores: Stores) -> None:
    to = return_path(settings, sent(stores))
    with receiving(settings, lmtp=True) as running, \
            socket.create_connection(("127.0.0.1", running.port), timeout=30) as sock:
        lines = sock.makefile("rb")
        lines.readline()
        sock.sendall(b"LHLO test\r\n")
        while not lines.readline().startswith(b"250 "):
            pass
        sock.sendall(f"MAIL FROM:<>\r\nRCPT TO:<{to}>\r\nRCPT TO:<nobody@today.az>\r\n"
                     f"RCPT TO:<unsubscribe@today.az>\r\nDATA\r\n".encode())
        assert [lines.readline()[:3] for _ in range(5)] == [
            b"250", b"250", b"550", b"250", b"354"]
        sock.sendall(dsn(to) + b".\r\n")
        assert [lines.readline()[:3] for _ in range(2)] == [b"250", b"250"]
    assert stores.suppressions.suppressed([READER]) == {READER}


def test_a_message_over_the_size_limit_is_refused_and_the_server_lives_on(
        make_settings: Callable[..., Settings], database_url: str, sessions: object) -> None:
    """25 MB against the default 10 MB limit: 552 at MAIL FROM when the client says
    its SIZE, else at the end of DATA; nothing kept."""
    settings = make_settings(database_url=database_url, bounce_address=BOUNCES)
    huge = b"Subject: big\r\n\r\n" + (b"x" * 998 + b"\r\n") * 25_000
    with receiving(settings) as running, client(running) as smtp:
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            smtp.sendmail("", [BOUNCES], huge)
        assert refused.value.smtp_code == 552
        assert smtp.mail("")[0] == 250 and smtp.rcpt(BOUNCES)[0] == 250
        assert smtp.data(huge)[0] == 552
        assert smtp.sendmail("", [BOUNCES], b"Subject: small\r\n\r\nhi\r\n") == {}
    assert kept(settings, "failed") == []


def test_too_many_clients_are_told_421_at_connect(
        make_settings: Callable[..., Settings], database_url: str, sessions: object) -> None:
    settings = make_settings(database_url=database_url, bounce_address=BOUNCES,
                             inbound_max_clients=3)
    with receiving(settings) as running:
        held = [client(running) for _ in range(3)]
        for smtp in held:
            assert smtp.noop()[0] == 250
        with pytest.raises(smtplib.SMTPConnectError) as refused:
            client(running)
        assert refused.value.smtp_code == 421
        held.pop().quit()
        time.sleep(0.2)
        with client(running) as smtp:
            assert smtp.noop()[0] == 250
        for smtp in held:
            smtp.quit()


def test_many_clients_at_once_are_each_taken(settings: Settings, stores: Stores,
                                             receiver: Receiver) -> None:
    readers = [f"reader{i}@example.org" for i in range(40)]
    paths = {r: return_path(settings, sent(stores, to=r)) for r in readers}

    def bounce(reader: str) -> dict[str, tuple[int, bytes]]:
        with client(receiver) as smtp:
            return smtp.sendmail("", [paths[reader]], dsn(paths[reader], recipient=reader))

    with ThreadPoolExecutor(20) as pool:
        assert list(pool.map(bounce, readers)) == [{}] * len(readers)
    assert stores.suppressions.suppressed(readers) == set(readers)


def test_a_flood_of_forged_dsns_suppresses_no_one_and_the_server_stays_responsive(
        settings: Settings, stores: Stores, receiver: Receiver) -> None:
    job_id = sent(stores)
    good = return_path(settings, job_id)
    # The token ignores case (some servers change it): alter a letter, not its case.
    forged = [good[:8] + ("b" if good[8].lower() == "a" else "a") + good[9:], BOUNCES,
              "bounces+notatoken@bounces.today.az"]

    def flood(n: int) -> None:
        with client(receiver) as smtp:
            for i in range(50):
                to = forged[(n + i) % len(forged)]
                smtp.sendmail("", [to], dsn(to, recipient=READER))

    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(flood, n) for n in range(4)]
        started = time.monotonic()
        with client(receiver) as smtp:
            assert smtp.noop()[0] == 250
        assert time.monotonic() - started < 5
        for future in futures:
            future.result()
    assert stores.suppressions.suppressed([READER]) == set()
    record = stores.ledger.get(job_id)
    assert record is not None and record.status.value == "sent"


def nested(depth: int) -> bytes:
    head = b"From: x@example.org\r\nSubject: deep\r\nMIME-Version: 1.0\r\n"
    body = b"Content-Type: text/plain\r\n\r\ncore\r\n"
    for level in range(depth):
        boundary = f"b{level}".encode()
        body = (b'Content-Type: multipart/mixed; boundary="' + boundary + b'"\r\n\r\n--'
                + boundary + b"\r\n" + body + b"\r\n--" + boundary + b"--\r\n")
    return head + body


@pytest.mark.parametrize("message", [
    nested(400),
    b"From: \xff\xfe broken\r\nSubject: =?x-unknown?B?!!!?=\r\nContent-Type: multipart/"
    b"report; boundary=\r\nContent-Transfer-Encoding: base64\r\n\r\n%%%not base64\r\n",
    b"no header at all, just words\r\n" * 100,
    b": \r\n:\r\n" + b"X" * 990 + b"\r\n\r\nbody\r\n",
], ids=["nested-mime", "broken-headers", "no-headers", "empty-names"])
def test_hostile_mail_is_taken_and_kept_for_a_person(
        settings: Settings, stores: Stores, receiver: Receiver, message: bytes) -> None:
    with client(receiver) as smtp:
        assert smtp.sendmail("", [BOUNCES], message) == {}
        assert smtp.noop()[0] == 250
    [path] = kept(settings, "unknown")
    assert path.read_bytes().endswith(message)
    assert kept(settings, "failed") == []


def test_a_message_the_intake_fails_on_is_kept_on_disk_before_250(
        settings: Settings, stores: Stores, receiver: Receiver) -> None:
    """A database that answers but refuses the write (here a trigger) is no outage: the
    message is kept in var/inbound/failed and the sender told it was taken."""
    postgres = stores.engine.dialect.name == "postgresql"
    trigger = [
        "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'refused'; "
        "END $$ LANGUAGE plpgsql",
        "CREATE TRIGGER refuse BEFORE INSERT ON feedback FOR EACH ROW EXECUTE FUNCTION "
        "refuse()"] if postgres else [
        "CREATE TRIGGER refuse BEFORE INSERT ON feedback BEGIN SELECT RAISE(ABORT, "
        "'refused'); END"]
    undo = ["DROP TRIGGER refuse ON feedback", "DROP FUNCTION refuse()"] if postgres \
        else ["DROP TRIGGER refuse"]
    to = return_path(settings, sent(stores))
    with stores.engine.begin() as conn:
        for statement in trigger:
            conn.execute(text(statement))
    try:
        with client(receiver) as smtp:
            assert smtp.sendmail("", [to], dsn(to)) == {}
    finally:
        with stores.engine.begin() as conn:
            for statement in undo:
                conn.execute(text(statement))
    [path] = kept(settings, "failed")
    assert path.read_bytes().endswith(dsn(to))


def test_with_the_database_dropped_the_answer_is_451(
        make_settings: Callable[..., Settings], tmp_path: Path) -> None:
    """SQLite: a database whose tables are gone answers 'no such table'."""
    from mailer.db import make_engine, upgrade

    url = f"sqlite:///{tmp_path / 'own.db'}"
    engine = make_engine(url)
    upgrade(engine)
    settings = make_settings(database_url=url, bounce_address=BOUNCES)
    with receiving(settings) as running:
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE feedback"))
        engine.dispose()
        with client(running) as smtp, pytest.raises(smtplib.SMTPDataError) as deferred:
            smtp.sendmail("", [BOUNCES], dsn(BOUNCES))
    assert deferred.value.smtp_code == 451
    assert kept(settings, "failed") == [] and kept(settings, "unknown") == []


@pytest.mark.skipif(not POSTGRES_URL, reason="MAILER_TEST_DATABASE_URL is not set")
def test_with_postgresql_away_the_answer_is_451_and_nothing_is_lost(
        make_settings: Callable[..., Settings], postgres_url: str) -> None:
    from sqlalchemy.engine import make_url

    with empty_database(postgres_url):
        pass
    real = make_url(postgres_url)
    proxy = TcpProxy(int(real.port or 5432)).start()
    settings = make_settings(
        database_url=real.set(host="127.0.0.1", port=proxy.port).render_as_string(False),
        bounce_address=BOUNCES)
    with services.stores(settings, seed=False) as opened, receiving(settings) as running:
        to = return_path(settings, sent(opened))
        proxy.cut()
        with client(running) as smtp, pytest.raises(smtplib.SMTPDataError) as deferred:
            smtp.sendmail("", [to], dsn(to))
        assert deferred.value.smtp_code == 451
        proxy = TcpProxy(proxy.target_port, port=proxy.port).start()
        with client(running) as smtp:  # the sending MTA tries again
            assert smtp.sendmail("", [to], dsn(to)) == {}
        assert opened.suppressions.suppressed([READER]) == {READER}
    proxy.cut()
