"""How a failed command reports: one line on stderr (or one JSON object on stdout with
`--json`), an exit code from `exit_code`, never a traceback. A client library's
connection error is named for the service that is away; anything else unexpected says
how to see the traceback (`MAILER_DEBUG=1`)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import click

from mailer.cli.base import EXIT_FAILED, EXIT_INPUT, EXIT_UNAVAILABLE
from mailer.errors import ConfigError, InvalidInput, MailerError, NotFound, ServiceUnavailable

# (top-level module, class name) of what client libraries raise when their server is
# away, by the setting that names that server.
_OUTAGES = {
    ("redis", "ConnectionError"): "MAILER_REDIS_URL",
    ("redis", "TimeoutError"): "MAILER_REDIS_URL",
    ("redis", "BusyLoadingError"): "MAILER_REDIS_URL",
    ("sqlalchemy", "OperationalError"): "MAILER_DATABASE_URL",
    ("sqlalchemy", "InterfaceError"): "MAILER_DATABASE_URL",
    ("psycopg", "OperationalError"): "MAILER_DATABASE_URL",
    ("kombu", "OperationalError"): "MAILER_BROKER_URL",
    ("amqp", "ConnectionError"): "MAILER_BROKER_URL",
}
_SERVICES = {"MAILER_REDIS_URL": "Redis (the queue, limits and counters)",
             "MAILER_DATABASE_URL": "the database",
             "MAILER_BROKER_URL": "the queue's broker ({broker})"}


@dataclass(frozen=True)
class Failure:
    message: str
    code: int
    fields: dict[str, str] = field(default_factory=dict)

    def report(self, as_json: bool) -> None:
        if as_json:
            body: dict[str, object] = {"error": self.message, "exit_code": self.code}
            if self.fields:
                body["fields"] = self.fields
            click.echo(json.dumps(body, ensure_ascii=False))
        else:
            click.echo(f"error: {self.message}", err=True)


# sysexits.h, which Postfix's pipe(8) reads: 75 keeps the mail and tries again later,
# the others return it to its sender.
EX_USAGE, EX_DATAERR, EX_TEMPFAIL = 64, 65, 75


class PipeCommand(click.Command):
    """A command an MTA runs per message (pipe(8)): its exit codes are sysexits.h's.
    Bad input is EX_DATAERR and bad usage EX_USAGE; anything else that fails, the
    settings included, is EX_TEMPFAIL, so the MTA keeps the mail until it is fixed."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            raise _PipeUsageError(exc.message, exc.ctx) from None


class _PipeUsageError(click.UsageError):
    exit_code = EX_USAGE


def _piped(failure: Failure, exc: BaseException, command: click.Command | None) -> Failure:
    if not isinstance(command, PipeCommand):
        return failure
    code = EX_DATAERR if isinstance(exc, InvalidInput | NotFound) else EX_TEMPFAIL
    return Failure(failure.message, code, failure.fields)


def exit_code(exc: MailerError) -> int:
    if isinstance(exc, InvalidInput | NotFound | ConfigError):
        return EXIT_INPUT
    if isinstance(exc, ServiceUnavailable):
        return EXIT_UNAVAILABLE
    return EXIT_FAILED


def failure_of(exc: BaseException, command: click.Command | None,
               settings: object | None) -> Failure | None:
    """What to say about `exc`; None when it is a bug to show in full (MAILER_DEBUG)."""
    failure = _failure(exc, command, settings)
    return None if failure is None else _piped(failure, exc, command)


def _failure(exc: BaseException, command: click.Command | None,
             settings: object | None) -> Failure | None:
    if isinstance(exc, InvalidInput):
        fields = {_option_name(command, name): message for name, message in exc.errors.items()}
        return Failure("; ".join(f"{name}: {message}" for name, message in fields.items()),
                       EXIT_INPUT, fields)
    if isinstance(exc, MailerError):
        return Failure(one_line(str(exc)), exit_code(exc))
    setting = _outage_setting(exc)
    if setting == "MAILER_BROKER_URL" and not getattr(settings, "broker_url", ""):
        setting = "MAILER_REDIS_URL"  # the broker is the Redis of MAILER_REDIS_URL
    if setting is not None:
        where = _masked(str(getattr(settings, setting[len("MAILER_"):].lower(), "") or ""))
        at = f" at {where}" if where else ""
        service = _SERVICES[setting].format(broker=getattr(settings, "broker_name", "?"))
        return Failure(f"{service}{at} is not answering ({one_line(str(exc))}); "
                       f"start it, or point {setting} at one that runs", EXIT_UNAVAILABLE)
    if os.environ.get("MAILER_DEBUG"):
        return None
    return Failure(f"unexpected {type(exc).__name__}: {one_line(str(exc))} (this is a bug; "
                   "MAILER_DEBUG=1 shows the traceback)", EXIT_FAILED)


def one_line(text: str) -> str:
    """The first line that says something, for messages that run to several (psycopg's
    "connection refused" adds a hint on a second line)."""
    for line in text.splitlines():
        if line.strip():
            return " ".join(line.split())[:400]
    return "no detail"


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _outage_setting(exc: BaseException) -> str | None:
    for cause in _causes(exc):
        for cls in type(cause).__mro__:
            setting = _OUTAGES.get((cls.__module__.split(".")[0], cls.__name__))
            if setting:
                return setting
    return None


def _masked(url: str) -> str:
    """The URL without its password: error lines end up in logs and tickets."""
    if not url:
        return ""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def leaf_command(group: click.Group, argv: Sequence[str]) -> click.Command | None:
    """The command `argv` names, found the way click finds it (options skipped)."""
    command: click.Command = group
    for token in argv:
        if token.startswith("-"):
            continue
        if not isinstance(command, click.Group):
            break
        sub = command.get_command(click.Context(command), token)
        if sub is None:
            break
        command = sub
    return None if command is group else command


def _option_name(command: click.Command | None, name: str) -> str:
    """A field as the person typed it: `--sender-email` rather than `sender_email`."""
    for param in command.params if command else ():
        if param.name == name or name in {o.lstrip("-").replace("-", "_") for o in param.opts}:
            if isinstance(param, click.Argument):
                return param.human_readable_name
            return max(param.opts, key=len)
    return name
