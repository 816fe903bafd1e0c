"""`mailer inbound read` as Postfix's pipe(8) runs it (one message on stdin, sysexits
codes) and `mailer inbound unknown`, through the real entry point on a real database."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator

import pytest

from mailer import services
from mailer.config import Settings
from mailer.stores import Stores
from tests.support.cli import run
from tests.support.returned import BOUNCES, READER, dsn, return_path, sent


@pytest.fixture
def settings(make_settings: Callable[..., Settings], database_url: str,
             monkeypatch: pytest.MonkeyPatch) -> Settings:
    built = make_settings(database_url=database_url, bounce_address=BOUNCES,
                          inbound_max_bytes=4096)
    for name in ("database_url", "var_dir", "bounce_address", "inbound_max_bytes"):
        monkeypatch.setenv(f"MAILER_{name.upper()}", str(getattr(built, name)))
    monkeypatch.setenv("MAILER_SECRET_KEY", built.secret_key.get_secret_value())
    return built


@pytest.fixture
def stores(settings: Settings, sessions: object) -> Iterator[Stores]:
    with services.stores(settings, seed=False) as opened:
        yield opened


def test_a_dsn_on_stdin_suppresses_and_exits_0(settings: Settings, stores: Stores,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    to = return_path(settings, sent(stores))
    code, out, err = run(["inbound", "read", "--envelope-to", to], capsys, stdin=dsn(to))
    assert (code, out.strip(), err) == (0, "bounce: suppressed", "")
    assert stores.suppressions.suppressed([READER]) == {READER}


def test_without_envelope_to_the_headers_say_where_it_went(
        settings: Settings, stores: Stores, capsys: pytest.CaptureFixture[str]) -> None:
    to = return_path(settings, sent(stores))
    assert run(["inbound", "read"], capsys, stdin=dsn(to))[:2] == (0, "bounce: suppressed\n")


@pytest.mark.parametrize(("argv", "stdin", "code", "said"), [
    ([], b"", 65, "empty"),
    ([], b" \r\n\r\n", 65, "empty"),
    ([], b"Subject: big\r\n\r\n" + b"x" * 5000, 65, "MAILER_INBOUND_MAX_BYTES"),
    (["--no-such-option"], b"Subject: x\r\n\r\nx\r\n", 64, "No such option"),
    (["--envelope-to"], b"Subject: x\r\n\r\nx\r\n", 64, "requires an argument"),
], ids=["empty", "blank", "too-large", "bad-option", "missing-value"])
def test_what_the_pipe_cannot_use_gets_its_sysexits_code(
        settings: Settings, stores: Stores, capsys: pytest.CaptureFixture[str],
        argv: list[str], stdin: bytes, code: int, said: str) -> None:
    got, out, err = run(["inbound", "read", *argv], capsys, stdin=stdin)
    assert got == code and said in err, (got, out, err)
    assert list((settings.var_dir / "inbound").rglob("*.eml")) == []


def test_unreadable_mail_is_listed_newest_first(settings: Settings, stores: Stores,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    for n, subject in enumerate(["first", "=?utf-8?b?xLBraW5jaQ==?="]):
        mail = f"From: Someone <s{n}@example.org>\r\nSubject: {subject}\r\n\r\nhi\r\n"
        assert run(["inbound", "read"], capsys, stdin=mail.encode())[:2] == (
            0, "unknown: kept\n")
    folder = settings.var_dir / "inbound" / "unknown"
    oldest = max(folder.glob("*.eml"), key=lambda p: p.read_bytes().count(b"first"))
    os.utime(oldest, (1_700_000_000, 1_700_000_000))
    code, out, _ = run(["inbound", "unknown", "--json"], capsys)
    listed = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [(m["from"], m["subject"]) for m in listed] == [
        ("Someone <s1@example.org>", "İkinci"), ("Someone <s0@example.org>", "first")]
    assert listed[1]["date"].startswith("2023-11-14T22:13:20")
    code, out, _ = run(["inbound", "unknown"], capsys)
    assert code == 0 and len(out.splitlines()) == 2 and "İkinci" in out.splitlines()[0]
    assert run(["inbound", "unknown", "--failed"], capsys)[:2] == (0, "")
