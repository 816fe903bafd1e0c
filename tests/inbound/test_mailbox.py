"""`mailer inbound poll` against a real IMAP server: Debian's Dovecot, an instance of
our own (a throw-away config, any user with one password, maildirs under a temporary
directory, a loopback port), with messages APPENDed by imapclient. `.ci/run` installs
Dovecot (Debian package dovecot-imapd); elsewhere these tests are skipped."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from uuid import uuid4

import pytest
from imapclient import IMAPClient
from sqlalchemy import func, select

from mailer import services
from mailer.config import Settings
from mailer.errors import InvalidInput
from mailer.inbound.mailbox import MailboxUrl
from mailer.local.embedded import free_port
from mailer.models import SuppressionRow
from mailer.stores import Stores
from mailer.subscriptions.model import Preferences, SignUp
from mailer.tokens import Purpose
from tests.support.cli import run
from tests.support.returned import BOUNCES, READER, dsn, return_path, sent, unsubscribe_mail

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
PASSWORD = "secret"


@dataclass(frozen=True)
class Dovecot:
    port: int
    user: str

    def url(self, done: str = "Processed") -> str:
        return f"imap://{self.user}:{PASSWORD}@127.0.0.1:{self.port}/INBOX?done={done}"

    def client(self) -> IMAPClient:
        imap = IMAPClient("127.0.0.1", self.port, ssl=False, timeout=10)
        imap.login(self.user, PASSWORD)
        return imap

    def append(self, *messages: bytes) -> None:
        with self.client() as imap:
            for message in messages:
                imap.append("INBOX", message)

    def folder(self, name: str) -> dict[int, tuple[bytes, ...]]:
        """Each message's flags, by UID."""
        with self.client() as imap:
            if not imap.folder_exists(name):
                return {}
            imap.select_folder(name, readonly=True)
            return {uid: data[b"FLAGS"] for uid, data in
                    imap.fetch(imap.search(["UNDELETED"]), ["FLAGS"]).items()}


def _config(root: Path, port: int) -> str:
    return f"""base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = dovecot
default_login_user = dovenull
first_valid_uid = 1
passdb {{
  driver = static
  args = password={PASSWORD}
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home={root}/home/%u
}}
mail_location = maildir:~/Maildir
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
"""


@pytest.fixture(scope="module")
def dovecot_port() -> Iterator[int]:
    if not Path(DOVECOT).exists():
        pytest.skip("Dovecot is not installed (Debian package dovecot-imapd; .ci/run "
                    "installs it)")
    if os.geteuid() != 0:
        pytest.skip("a private Dovecot instance needs root to start its master")
    root = Path(tempfile.mkdtemp(prefix="newsmailer-dovecot-"))
    root.chmod(0o755)
    for sub in ("run", "state", "home"):
        (root / sub).mkdir()
    shutil.chown(root / "home", "nobody", "nogroup")
    port = free_port()
    config = root / "dovecot.conf"
    config.write_text(_config(root, port))
    # No pipes: the master it leaves running would hold them open.
    subprocess.run([DOVECOT, "-c", str(config)], check=True, stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                Dovecot(port, "probe").client().logout()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield port
    finally:
        subprocess.run([DOVECOT, "-c", str(config), "stop"], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def dovecot(dovecot_port: int) -> Dovecot:
    """A mailbox of its own for each test: any user name logs in."""
    return Dovecot(dovecot_port, f"bounces-{uuid4().hex[:8]}")


@pytest.fixture
def settings(make_settings: Callable[..., Settings], database_url: str,
             monkeypatch: pytest.MonkeyPatch) -> Settings:
    built = make_settings(database_url=database_url, bounce_address=BOUNCES)
    for name in ("database_url", "var_dir", "bounce_address", "redis_url"):
        monkeypatch.setenv(f"MAILER_{name.upper()}", str(getattr(built, name)))
    monkeypatch.setenv("MAILER_SECRET_KEY", built.secret_key.get_secret_value())
    return built


@pytest.fixture
def stores(settings: Settings, sessions: object) -> Iterator[Stores]:
    with services.stores(settings, seed=False) as opened:
        yield opened


def poll(dovecot: Dovecot, capsys: pytest.CaptureFixture[str], *extra: str) -> str:
    code, out, err = run(["inbound", "poll", dovecot.url(), *extra], capsys)
    assert code == 0 and not err, (code, out, err)
    return out.strip()


def suppression_rows(stores: Stores) -> int:
    with stores.sessions.begin() as session:
        return int(session.scalar(select(func.count()).select_from(SuppressionRow)) or 0)


def test_mail_the_intake_reads_moves_and_the_rest_stays_flagged(
        settings: Settings, stores: Stores, dovecot: Dovecot,
        capsys: pytest.CaptureFixture[str]) -> None:
    reader = stores.subscribers.add_active(SignUp("omar@example.org", "Omar", Preferences(
        ("politics",), "Asia/Baku", 7)))
    token = services.make_tokens(settings).make(Purpose.UNSUBSCRIBE, reader.id)
    to = return_path(settings, sent(stores))
    forged = "bounces+forgedtokenforgedtoken@bounces.today.az"
    dovecot.append(dsn(to), dsn(forged), unsubscribe_mail(token),
                   b"From: someone@example.org\r\nTo: bounces@bounces.today.az\r\n"
                   b"Subject: a question\r\n\r\nHello?\r\n")
    assert poll(dovecot, capsys) == "3 taken, 1 left for a person (flagged), 0 failed"
    assert stores.suppressions.suppressed([READER]) == {READER}
    assert stores.subscribers.get(reader.id).status.value == "unsubscribed"
    assert len(dovecot.folder("Processed")) == 3
    [flags] = dovecot.folder("INBOX").values()
    assert b"\\Flagged" in flags
    assert poll(dovecot, capsys) == "0 taken, 0 left for a person (flagged), 0 failed"
    assert len(dovecot.folder("Processed")) == 3 and len(dovecot.folder("INBOX")) == 1
    assert len(list((settings.var_dir / "inbound" / "unknown").glob("*.eml"))) == 1


def test_a_crash_between_the_intake_and_the_move_reads_it_again_harmlessly(
        settings: Settings, stores: Stores, dovecot: Dovecot,
        capsys: pytest.CaptureFixture[str]) -> None:
    job_id = sent(stores)
    message = dsn(return_path(settings, job_id))
    dovecot.append(message)
    services.feedback_intake(settings, stores).take(message)  # committed, never moved
    before = stores.ledger.get(job_id)
    assert before is not None and before.status.value == "bounced"
    assert poll(dovecot, capsys) == "1 taken, 0 left for a person (flagged), 0 failed"
    after = stores.ledger.get(job_id)
    assert after is not None and (after.status, after.last_reply) == (
        before.status, before.last_reply)
    assert stores.suppressions.suppressed([READER]) == {READER}
    assert suppression_rows(stores) == 1
    assert len(dovecot.folder("Processed")) == 1 and dovecot.folder("INBOX") == {}


def test_the_done_folder_is_made_when_missing_and_named_by_the_url(
        settings: Settings, stores: Stores, dovecot: Dovecot,
        capsys: pytest.CaptureFixture[str]) -> None:
    to = return_path(settings, sent(stores))
    dovecot.append(dsn(to))
    code, _, err = run(["inbound", "poll", dovecot.url(done="Read-bounces")], capsys)
    assert code == 0, err
    assert len(dovecot.folder("Read-bounces")) == 1 and dovecot.folder("Processed") == {}


def test_a_wrong_password_is_one_line_and_exit_2(
        settings: Settings, stores: Stores, dovecot: Dovecot,
        capsys: pytest.CaptureFixture[str]) -> None:
    url = dovecot.url().replace(f":{PASSWORD}@", ":wrong@")
    code, _, err = run(["inbound", "poll", url], capsys)
    assert code == 2 and err.startswith("error: the mailbox imap://") and "wrong" not in err


@pytest.mark.parametrize(("url", "why"), [
    ("imap://u:p@mail.example.org/INBOX", "loopback"),
    ("imaps://mail.example.org/INBOX", "user and password"),
    ("pop3://u:p@127.0.0.1/INBOX", "imaps://"),
])
def test_a_url_it_will_not_use_is_refused(url: str, why: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        MailboxUrl.parse(url)
    assert why in str(refused.value)


def test_a_url_names_its_security_folder_and_done_folder() -> None:
    url = MailboxUrl.parse("imap://b%40x:p%2Fw@mail.example.org/Bounces?starttls=1&done=Read")
    assert (url.security, url.port, url.user, url.password, url.folder, url.done) == (
        "starttls", 143, "b@x", "p/w", "Bounces", "Read")
    assert MailboxUrl.parse("imaps://u:p@h").port == 993
    assert "p/w" not in url.where
