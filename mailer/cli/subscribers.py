"""Commands about the digest's subscribers."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click

from mailer.cli.base import EXIT_INPUT, pass_settings, use_queue, use_stores
from mailer.config import Settings
from mailer.errors import InvalidInput, NotFound

T = TypeVar("T")


@click.group()
def subscribers() -> None:
    """The digest's subscribers."""


@subscribers.command("add", short_help='Sign EMAIL up (pending, or active with --confirmed).')
@click.argument("email")
@click.option("--name", default="", help="The subscriber's name, for the greeting.")
@click.option("--sections", default="", help="Comma-separated; default all.")
@click.option("--timezone", "tz", default="", help="Default: MAILER_TIMEZONE.")
@click.option("--hour", default="", help="Local delivery hour, 0-23; default MAILER_DIGEST_HOUR.")
@click.option("--confirmed", is_flag=True,
              help="You hold their consent: active at once, no confirmation e-mail.")
@pass_settings
def subscribers_add(settings: Settings, email: str, name: str, sections: str, tz: str,
                    hour: str, confirmed: bool) -> int:
    """Sign EMAIL up: pending with a confirmation e-mail, or active with --confirmed."""
    from mailer.services import default_preferences, make_catalog
    from mailer.subscriptions.model import validate_signup
    from mailer.subscriptions.signup import submit_signup

    fields = {"email": email, "name": name, "sections": sections, "timezone": tz,
              "hour": hour}
    catalog, defaults = make_catalog(settings), default_preferences(settings)
    signup = validate_signup(fields, catalog, default=defaults)
    stores = use_stores(settings)
    if confirmed:
        subscriber = stores.subscribers.add_active(signup)
        click.echo(f"{subscriber.email}: active")
        return 0
    submit_signup(fields, catalog=catalog, default=defaults, store=stores.subscribers,
                  ledger=stores.ledger, queue=use_queue(settings),
                  resend_after=settings.confirm_resend_after)
    found = stores.subscribers.find(signup.email)
    click.echo(f"{signup.email}: {found.status.value if found else 'pending'}; "
               "confirmation e-mail queued")
    return 0


@subscribers.command("import", short_help='Import a CSV of active subscribers.')
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--progress/--no-progress", default=None,
              help="Show a progress bar [default: when standard error is a terminal].")
@pass_settings
def subscribers_import(settings: Settings, path: Path, progress: bool | None) -> int:
    """Import a CSV (email,name,sections,timezone,hour) as active subscribers.

    The file is read as it is imported, so its size does not matter. Bad rows are
    listed with their line numbers and skipped; good rows are kept. Importing the same
    file again changes nothing, and never resubscribes an address that has
    unsubscribed. An export imports as it was written, and its status column is
    honoured: pending and unsubscribed rows are reported, not made active. All or
    nothing: a file that cannot be read imports nobody."""
    from rich.console import Console

    from mailer.services import default_preferences, make_catalog
    from mailer.subscriptions.csvio import RowError, SubscriberCsv

    console = Console(stderr=True, highlight=False)
    store = use_stores(settings).subscribers
    with _import_progress(console, path, progress) as (bar, stream, counted):
        def report_bad_row(error: RowError) -> None:
            bar.console.print(f"{path.name}:{error}", markup=False, soft_wrap=True)

        try:
            rows = SubscriberCsv(stream, make_catalog(settings), default_preferences(settings),
                                 report_bad_row)
            report = store.import_active(counted(rows))
        except UnicodeDecodeError:
            raise InvalidInput({"path": f"{path} is not UTF-8 text; nothing was imported"}
                               ) from None
    click.echo(f"{rows.good} good row(s): {report.added} added, {report.updated} updated, "
               f"{report.kept_unsubscribed} kept unsubscribed; {rows.bad} bad row(s)")
    return EXIT_INPUT if rows.bad and not rows.good else 0


@contextmanager
def _import_progress(console: Any, path: Path, show: bool | None) -> Iterator[Any]:
    """The file opened through a progress bar (bytes read, rows, rate, time left), and
    a pass-through that counts rows and says when the merge starts."""
    from rich.progress import (
        BarColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )

    with Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                  TextColumn("{task.fields[rows]:,} rows"), TimeRemainingColumn(),
                  console=console, disable=not (console.is_terminal if show is None else show),
                  ) as bar:
        task = bar.add_task("importing", total=None, rows=0)
        try:
            stream = bar.open(path, "rt", encoding="utf-8-sig", newline="", task_id=task,
                              total=path.stat().st_size)
        except OSError as exc:
            raise InvalidInput({"path": f"cannot read {path}: {exc.strerror}"}) from None

        def counted(rows: Iterable[T]) -> Iterator[T]:
            count = 0
            for count, row in enumerate(rows, 1):
                if count % 5000 == 0:
                    bar.update(task, rows=count)
                yield row
            bar.update(task, rows=count, description="merging")

        with stream:
            yield bar, stream, counted


@subscribers.command("export")
@click.option("--out", "out_path", type=click.Path(path_type=Path, dir_okay=False),
              default=None, help="File to write (default: standard output).")
@click.option("--status", type=click.Choice(["pending", "active", "unsubscribed"]),
              default=None, help="Only subscribers in this state (default: all).")
@pass_settings
def subscribers_export(settings: Settings, out_path: Path | None, status: str | None) -> int:
    """Write subscribers as CSV."""
    from mailer.subscriptions.csvio import write_subscribers
    from mailer.subscriptions.model import SubscriberStatus

    rows = use_stores(settings).subscribers.list(
        SubscriberStatus(status) if status else None)
    if out_path is None:
        write_subscribers(sys.stdout, rows)
        return 0
    with out_path.open("w", encoding="utf-8", newline="") as stream:
        count = write_subscribers(stream, rows)
    click.echo(f"wrote {count} subscriber(s) to {out_path}", err=True)
    return 0


@subscribers.command("list")
@click.option("--status", type=click.Choice(["pending", "active", "unsubscribed"]),
              default=None, help="Only subscribers in this state (default: all).")
@pass_settings
def subscribers_list(settings: Settings, status: str | None) -> int:
    """One line per subscriber: address, status, sections, hour and zone."""
    from mailer.subscriptions.model import SubscriberStatus

    for s in use_stores(settings).subscribers.list(SubscriberStatus(status) if status
                                                                 else None):
        click.echo(f"{s.email}\t{s.status.value}\t{','.join(s.preferences.sections)}\t"
                   f"{s.preferences.hour:02d}:00 {s.preferences.timezone}")
    return 0


@subscribers.command("delete", short_help='Erase EMAIL entirely (a request to be forgotten).')
@click.argument("email")
@pass_settings
def subscribers_delete(settings: Settings, email: str) -> int:
    """Erase EMAIL entirely (a request to be forgotten); unsubscribing keeps the record."""

    if not use_stores(settings).subscribers.delete(email):
        raise NotFound(f"no subscriber {email!r}")
    click.echo(f"deleted {email}")
    return 0


@subscribers.command("expire")
@pass_settings
def subscribers_expire(settings: Settings) -> int:
    """Delete sign-ups not confirmed within MAILER_CONFIRM_MAX_AGE_HOURS."""
    from datetime import timedelta


    count = use_stores(settings).subscribers.expire_pending(
        timedelta(hours=settings.confirm_max_age_hours))
    click.echo(f"expired {count} unconfirmed sign-up(s)")
    return 0
