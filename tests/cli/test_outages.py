"""Every `mailer` command, with Redis away, then with the database away, then with a
broker of its own (RabbitMQ, MAILER_BROKER_URL) away: one line naming what is away and
exit 3 where the command needs it, never a traceback; `--json` gets a JSON object
instead. The table must name every command the CLI has."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from mailer.cli import cli
from mailer.cli.lazy import subcommands
from mailer.local.embedded import free_port
from tests.conftest import empty_tables
from tests.support.cli import run

SEED = "non-aligned-movement-support-to-azerbaijan-over-karabakh-significant"
REDIS, DB, BROKER = "redis", "database", "broker"
# What needs the queue: the commands that hand jobs to it or read it.
NEEDS_BROKER = {"share", "subscribers add", "digest run", "deliveries resend", "status", "serve",
                "articles alert"}

# command: (arguments after it, the services it needs). Commands that run services of
# their own are listed apart, with the reason.
COMMANDS: dict[str, tuple[list[str], set[str]]] = {
    "share": ([SEED, "--sender-name", "A", "--sender-email", "a@example.com",
               "--friend-name", "B", "--friend-email", "b@example.com"], {REDIS, DB}),
    "job": (["abc"], {DB}),
    "preview share": ([SEED, "--out", "{tmp}"], set()),  # falls back to the seed articles
    "articles import": (["{tmp}/articles.json"], {DB}),
    "articles list": ([], set()),  # the seed articles, with a note
    "db upgrade": ([], {DB}),
    "subscribers add": (["leyla@example.com"], {REDIS, DB}),
    "subscribers import": (["{tmp}/people.csv", "--no-progress"], {DB}),
    "subscribers export": (["--out", "{tmp}/out.csv"], {DB}),
    "subscribers list": ([], {DB}),
    "subscribers delete": (["leyla@example.com"], {DB}),
    "subscribers expire": ([], {DB}),
    "newsletters list": ([], {DB}),
    "alerts list": ([], {DB}),
    "alerts cancel": (["some-story"], {DB}),
    "articles alert": ([SEED], {DB, REDIS}),
    "newsletters add": (["economy-weekly", "--name", "Economy", "--cadence", "weekly",
                         "--weekday", "Monday"], {DB}),
    "newsletters set": (["weekly", "--name", "Sundays"], {DB}),
    "newsletters remove": (["weekly", "--yes"], {DB}),
    "digest preview": (["--date", "2020-10-28", "--out", "{tmp}"], set()),
    "digest run": (["--date", "2020-10-28", "--no-wait"], {REDIS, DB}),
    "digest runs": ([], {DB}),
    "digest pause": (["run-1"], {DB}),  # no such run: said before Redis is asked
    "digest resume": (["run-1"], {DB}),
    "digest cancel": (["run-1"], {DB}),
    "deliveries failed": ([], {DB}),
    "deliveries resend": (["--failed"], {REDIS, DB}),
    "suppressions list": ([], {DB}),
    "suppressions add": (["x@example.com"], {DB}),
    "suppressions remove": (["x@example.com"], {DB}),
    "dkim keygen": (["--out", "{tmp}/keys"], set()),
    "bounces classify": (["{tmp}/articles.json"], set()),  # reads files only
    "inbound serve": (["--port", "{port}"], {DB}),
    "inbound read": ([], {DB}),  # a message on stdin; exit 75 for Postfix's pipe, not 3
    "inbound poll": (["imap://u:p@127.0.0.1:{port}/INBOX"], {DB}),
    "inbound unknown": ([], set()),  # reads files only
    "status": ([], {REDIS, DB}),
    "serve": (["--port", "{port}"], {REDIS, DB}),
}
# Commands that cannot end well with only the service they do not need away.
SERVES_UNTIL_STOPPED = {"inbound serve"}  # needs no Redis: it would serve on
MAILBOX_AWAY = {"inbound poll"}  # nothing listens on its IMAP port either
PIPE_STDIN = {"inbound read": b"From: a@example.org\r\nSubject: hi\r\n\r\nhello\r\n"}
EXIT_TEMPFAIL = {"inbound read"}  # sysexits.h, which Postfix's pipe(8) reads
OWN_SERVICES = {
    "sink": "the SMTP sink uses neither Redis nor a database",
    "stack": "runs a Redis and a database of its own",
    "demo": "runs a Redis and a database of its own",
}


def leaf_names(group: click.Group, prefix: str = "") -> Iterator[str]:
    for name, command in subcommands(group).items():
        if isinstance(command, click.Group):
            yield from leaf_names(command, f"{prefix}{name} ")
        else:
            yield f"{prefix}{name}"


def test_the_table_names_every_command() -> None:
    assert set(leaf_names(cli)) == set(COMMANDS) | set(OWN_SERVICES)


@pytest.fixture
def away(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sqlite_url: str,
         request: pytest.FixtureRequest) -> str:
    """One service on a port where nothing listens; the other one real."""
    dead = free_port()
    empty_tables(sqlite_url)  # nothing an earlier case left (a sign-up within its resend wait)
    monkeypatch.setenv("MAILER_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("MAILER_SECRET_KEY", "a-secret-key-for-the-outage-tests")
    if request.param == REDIS:
        monkeypatch.setenv("MAILER_REDIS_URL", f"redis://:secret@127.0.0.1:{dead}/0")
        monkeypatch.setenv("MAILER_DATABASE_URL", sqlite_url)
    elif request.param == BROKER:
        redis_server = request.getfixturevalue("redis_server")
        monkeypatch.setenv("MAILER_REDIS_URL", f"redis://127.0.0.1:{redis_server.port}/1")
        monkeypatch.setenv("MAILER_BROKER_URL", f"amqp://mailer:secret@127.0.0.1:{dead}//")
        monkeypatch.setenv("MAILER_DATABASE_URL", sqlite_url)
    else:
        redis_server = request.getfixturevalue("redis_server")
        monkeypatch.setenv("MAILER_REDIS_URL", f"redis://127.0.0.1:{redis_server.port}/1")
        monkeypatch.setenv("MAILER_DATABASE_URL",
                           f"postgresql://mailer:secret@127.0.0.1:{dead}/mailer")
    (tmp_path / "articles.json").write_text("[]")
    (tmp_path / "people.csv").write_text("email\nleyla@example.com\n")
    return str(request.param)


@pytest.mark.parametrize("away", [REDIS, DB, BROKER], indirect=True)
@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_a_command_with_a_service_away_says_so_in_one_line(
        name: str, away: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args, needs = COMMANDS[name]
    needs = needs | ({BROKER} if name in NEEDS_BROKER else set())
    if away not in needs and name in SERVES_UNTIL_STOPPED:
        pytest.skip(f"{name} needs no {away} and would serve until stopped")
    argv = name.split() + [a.format(tmp=tmp_path, port=free_port()) for a in args]
    code, out, err = run(argv, capsys, stdin=PIPE_STDIN.get(name))
    assert "Traceback" not in out + err
    if away not in needs and name in MAILBOX_AWAY:
        assert code == 3 and err.startswith("error: the mailbox "), (code, out, err)
        return
    if away not in needs:
        assert code in (0, 2), (code, out, err)  # 2: "no such run", "unknown job"
        assert len(err.strip().splitlines()) <= 1, err
        return
    assert code == (75 if name in EXIT_TEMPFAIL else 3), (code, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "secret" not in err, "no password in an error line"
    named = {REDIS: "Redis", DB: "database", BROKER: "broker (RabbitMQ)"}[away]
    assert named in lines[0], lines[0]


@pytest.mark.parametrize("away", [REDIS, DB, BROKER], indirect=True)
def test_json_asked_json_given(away: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["status", "--json"], capsys)
    assert code == 3 and not err
    answer = json.loads(out)
    assert answer["exit_code"] == 3 and "not answering" in answer["error"]


def test_input_errors_name_the_options_as_typed(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["share", SEED, "--sender-name", "A", "--sender-email", "a@",
                        "--friend-name", "B", "--friend-email", "b@example.com"], capsys)
    assert code == 2
    assert err.startswith("error: --sender-email: ") and "sender_email" not in err
