"""What a bounce storm costs: 10,000 delivery status notifications through `mailer
inbound serve` (a real SMTP receiver, the classifier, the feedback policy, a `feedback`
row, a suppression and a `bounced` ledger row each), beside Postfix's own C pair, its
smtp-sink fed by smtp-source, as the ceiling of SMTP on this machine.

The DSNs are Postfix's own format, one per message a digest sent, each to the message's
sealed return path: 70% hard (user unknown), 20% soft (mailbox full), 10% delay
warnings. Eight clients send them over kept-open connections, as a relay's queue
manager would. Afterwards every DSN must be in the `feedback` table and every hard one
on the suppression list, or the bench fails.

Needs Postfix's smtp-sink and smtp-source (Debian package `postfix`). Last line:
`inbound N=10000: X msgs/s; smtp-sink Y msgs/s`.
"""

from __future__ import annotations

import argparse
import smtplib
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from uuid import uuid4

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, select, update

from bench.database import add_database_option, bench_database
from bench.digest import run_smtp_source, tool
from mailer import services
from mailer.config import Settings, load_settings
from mailer.db import upgrade
from mailer.local.embedded import free_port, worker_env
from mailer.models import DeliveryRow, FeedbackRow, SuppressionRow
from mailer.stores import Stores
from mailer.tokens import ReturnPaths

BOUNCES = "bounces@bounces.today.az"
CLIENTS = 8


def dsn(to: str, recipient: str, kind: str) -> bytes:
    status, action, words = {
        "hard": ("5.1.1", "failed", "550 5.1.1 <{r}>: Recipient address rejected: User "
                 "unknown in virtual mailbox table"),
        "soft": ("4.2.2", "failed", "552 4.2.2 <{r}>: mailbox full"),
        "delay": ("4.4.1", "delayed", "connect to mx.example.org[192.0.2.7]:25: "
                  "Connection timed out"),
    }[kind]
    return (f"From: MAILER-DAEMON@relay.today.az (Mail Delivery System)\r\nTo: {to}\r\n"
            f"Subject: Undelivered Mail Returned to Sender\r\nAuto-Submitted: auto-replied\r\n"
            f"MIME-Version: 1.0\r\nMessage-Id: <{uuid4().hex}@relay.today.az>\r\n"
            f'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n'
            f"\r\n--b\r\nContent-Type: text/plain\r\n\r\nThis is the mail system at host "
            f"relay.today.az.\r\n\r\nI'm sorry to have to inform you that your message "
            f"could not be delivered to one or more recipients.\r\n\r\n--b\r\n"
            f"Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; "
            f"relay.today.az\r\n\r\nFinal-Recipient: rfc822; {recipient}\r\n"
            f"Original-Recipient: rfc822;{recipient}\r\nAction: {action}\r\nStatus: {status}"
            f"\r\nDiagnostic-Code: smtp; {words.format(r=recipient)}\r\n\r\n--b\r\n"
            f"Content-Type: text/rfc822-headers\r\n\r\nFrom: TODAY.AZ <news@today.az>\r\n"
            f"To: {recipient}\r\nSubject: TODAY.AZ, 26 November: Politics\r\n\r\n"
            f"--b--\r\n").encode()


def sent_digests(stores: Stores, count: int) -> list[tuple[str, str]]:
    """`count` digests the ledger says were sent: (message id, recipient)."""
    rows = [(uuid4().hex, f"reader{i}@example.org") for i in range(count)]
    stores.ledger.create_many([(i, "digest", to, "2026-11-26", None) for i, to in rows])
    with stores.sessions.begin() as session:
        session.execute(update(DeliveryRow).values(status="sent", last_reply="250 2.0.0 Ok"))
    return rows


def send_all(port: int, messages: list[bytes], clients: int) -> float:
    """Seconds from the first connection to the last 250."""
    slices = [messages[i::clients] for i in range(clients)]
    errors: list[BaseException] = []

    def client(batch: list[bytes]) -> None:
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=60) as smtp:
                for raw in batch:
                    smtp.sendmail("", [raw.split(b"\r\n", 2)[1][4:].decode()], raw)
        except BaseException as exc:  # reported below, after the others finish
            errors.append(exc)

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(batch,)) for batch in slices]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise SystemExit(f"a client failed: {errors[0]}")
    return time.monotonic() - started


def check(stores: Stores, count: int, hard: int) -> None:
    with stores.sessions.begin() as session:
        recorded = session.scalar(select(func.count()).select_from(FeedbackRow))
        suppressed = session.scalar(select(func.count()).select_from(SuppressionRow))
        bounced = session.scalar(select(func.count()).select_from(DeliveryRow)
                                 .where(DeliveryRow.status == "bounced"))
    if (recorded, suppressed, bounced) != (count, hard, hard):
        raise SystemExit(f"lost work: {recorded} feedback rows for {count} DSNs, "
                         f"{suppressed} suppressed and {bounced} bounced for {hard} hard")


def run_ours(settings: Settings, count: int, var: Path, processes: int) -> float:
    with services.stores(settings, seed=False) as stores:
        rows = sent_digests(stores, count)
        paths = ReturnPaths(settings.secret_key.get_secret_value(), BOUNCES)
        kinds = ["hard"] * 7 + ["soft"] * 2 + ["delay"]
        messages = [dsn(paths.address(message_id), to, kinds[i % 10])
                    for i, (message_id, to) in enumerate(rows)]
        port = free_port()
        log = (var / "inbound.log").open("wb")
        server = subprocess.Popen(
            [sys.executable, "-m", "mailer.cli", "inbound", "serve", "--host", "127.0.0.1",
             "--port", str(port), "--processes", str(processes)], env=worker_env(settings),
            stdout=log, stderr=log)
        try:
            wait_for_port(port, server)
            elapsed = send_all(port, messages, CLIENTS)
        finally:
            server.terminate()
            server.wait(timeout=30)
            log.close()
        check(stores, count, hard=sum(1 for i in range(count) if kinds[i % 10] == "hard"))
    return count / elapsed


def wait_for_port(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"mailer inbound serve exited with {proc.returncode}")
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=2):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("mailer inbound serve did not start in 30 s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--processes", type=int, default=2,
                        help="mailer inbound serve --processes (one per core here)")
    add_database_option(parser)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="inbound-bench-") as tmp, ExitStack() as stack:
        var = Path(tmp)
        kind, database_url = bench_database(stack, args.database_url, var, "mailer_bench")
        settings = load_settings(var_dir=var, demo=True, database_url=database_url,
                                 bounce_address=BOUNCES)
        with services.database(settings) as engine:
            upgrade(engine)
        ours = run_ours(settings, args.messages, var, args.processes)
        sink_port = free_port()
        sink = subprocess.Popen([tool("smtp-sink"), "-u", "nobody", f"127.0.0.1:{sink_port}",
                                 "1000"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(0.3)
            ceiling = run_smtp_source(sink_port, args.messages)
        finally:
            sink.terminate()
            sink.wait()
    print(f"{'receiver':<44}{'msgs/s':>10}")
    print(f"{'ours (SMTP, classify, policy, record)':<44}{ours:>10.0f}   db={kind}, "
          f"{args.processes} process(es)")
    print(f"{'smtp-sink fed by smtp-source -s 20':<44}{ceiling:>10.0f}   "
          f"ours is {100 * ours / ceiling:.0f}% of it")
    print(f"inbound N={args.messages}: {ours:.0f} msgs/s; smtp-sink {ceiling:.0f} msgs/s")


if __name__ == "__main__":
    main()
