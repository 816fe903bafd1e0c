"""Commands about the database and the digest's subscribers."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from mailer.cli.base import EXIT_INPUT, pass_settings
from mailer.config import Settings
from mailer.errors import InvalidInput, NotFound


@click.group()
def db() -> None:
    """The database schema."""


@db.command("upgrade")
@pass_settings
def db_upgrade(settings: Settings) -> int:
    """Apply all migrations (safe to run again)."""
    from mailer.db import make_engine, normalise_url, upgrade

    engine = make_engine(settings.database)
    upgrade(engine)
    engine.dispose()
    click.echo(f"database at the latest schema: {_redact(normalise_url(settings.database))}")
    return 0


def _redact(url: str) -> str:
    from sqlalchemy import make_url

    return make_url(url).render_as_string(hide_password=True)


@click.group()
def subscribers() -> None:
    """The digest's subscribers."""


@subscribers.command("add")
@click.argument("email")
@click.option("--name", default="")
@click.option("--sections", default="", help="Comma-separated; default all.")
@click.option("--timezone", "tz", default="", help="Default: MAILER_TIMEZONE.")
@click.option("--hour", default="", help="Local delivery hour, 0-23; default MAILER_DIGEST_HOUR.")
@click.option("--confirmed", is_flag=True,
              help="You hold their consent: active at once, no confirmation e-mail.")
@pass_settings
def subscribers_add(settings: Settings, email: str, name: str, sections: str, tz: str,
                    hour: str, confirmed: bool) -> int:
    """Sign EMAIL up: pending with a confirmation e-mail, or active with --confirmed."""
    from mailer.queue import load_job_queue
    from mailer.services import default_preferences, make_catalog, open_stores, resend_after
    from mailer.subscriptions.signup import submit_signup
    from mailer.subscriptions.store import validate_signup

    fields = {"email": email, "name": name, "sections": sections, "timezone": tz,
              "hour": hour}
    catalog, defaults = make_catalog(settings), default_preferences(settings)
    signup = validate_signup(fields, catalog, default=defaults)
    stores = open_stores(settings, seed=False)
    if confirmed:
        subscriber = stores.subscribers.add_active(signup)
        click.echo(f"{subscriber.email}: active")
        return 0
    queue = load_job_queue(settings)
    try:
        submit_signup(fields, catalog=catalog, default=defaults, store=stores.subscribers,
                      ledger=stores.ledger, queue=queue, resend_after=resend_after(settings))
    finally:
        queue.close()
    found = stores.subscribers.find(signup.email)
    click.echo(f"{signup.email}: {found.status.value if found else 'pending'}; "
               "confirmation e-mail queued")
    return 0


@subscribers.command("import")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False))
@pass_settings
def subscribers_import(settings: Settings, path: Path) -> int:
    """Import a CSV (email,name,sections,timezone,hour) as active subscribers.

    Bad rows are listed with their line numbers and skipped; good rows are kept.
    Importing the same file again changes nothing, and never resubscribes an address
    that has unsubscribed."""
    from mailer.services import default_preferences, make_catalog, open_stores
    from mailer.subscriptions.csvio import read_subscribers

    try:
        with path.open(encoding="utf-8-sig", newline="") as stream:
            good, bad = read_subscribers(stream, make_catalog(settings),
                                         default_preferences(settings))
    except OSError as exc:
        raise InvalidInput({"path": f"cannot read {path}: {exc.strerror}"}) from None
    except UnicodeDecodeError:
        raise InvalidInput({"path": f"{path} is not UTF-8 text"}) from None
    for error in bad:
        click.echo(f"{path.name}:{error}", err=True)
    report = open_stores(settings, seed=False).subscribers.import_active(good)
    click.echo(f"{len(good)} good row(s): {report.added} added, {report.updated} updated, "
               f"{report.kept_unsubscribed} kept unsubscribed; {len(bad)} bad row(s)")
    return EXIT_INPUT if bad and not good else 0


@subscribers.command("export")
@click.option("--out", "out_path", type=click.Path(path_type=Path, dir_okay=False),
              default=None, help="File to write (default: standard output).")
@click.option("--status", type=click.Choice(["pending", "active", "unsubscribed"]),
              default=None)
@pass_settings
def subscribers_export(settings: Settings, out_path: Path | None, status: str | None) -> int:
    """Write subscribers as CSV."""
    from mailer.services import open_stores
    from mailer.subscriptions.csvio import write_subscribers
    from mailer.subscriptions.store import SubscriberStatus

    rows = open_stores(settings, seed=False).subscribers.list(
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
              default=None)
@pass_settings
def subscribers_list(settings: Settings, status: str | None) -> int:
    """One line per subscriber: address, status, sections, hour and zone."""
    from mailer.services import open_stores
    from mailer.subscriptions.store import SubscriberStatus

    for s in open_stores(settings, seed=False).subscribers.list(SubscriberStatus(status) if status
                                                                 else None):
        click.echo(f"{s.email}\t{s.status.value}\t{','.join(s.preferences.sections)}\t"
                   f"{s.preferences.hour:02d}:00 {s.preferences.timezone}")
    return 0


@subscribers.command("delete")
@click.argument("email")
@pass_settings
def subscribers_delete(settings: Settings, email: str) -> int:
    """Erase EMAIL entirely (a request to be forgotten); unsubscribing keeps the record."""
    from mailer.services import open_stores

    if not open_stores(settings, seed=False).subscribers.delete(email):
        raise NotFound(f"no subscriber {email!r}")
    click.echo(f"deleted {email}")
    return 0


@subscribers.command("expire")
@pass_settings
def subscribers_expire(settings: Settings) -> int:
    """Delete sign-ups not confirmed within MAILER_CONFIRM_MAX_AGE_HOURS."""
    from datetime import timedelta

    from mailer.services import open_stores

    count = open_stores(settings, seed=False).subscribers.expire_pending(
        timedelta(hours=settings.confirm_max_age_hours))
    click.echo(f"expired {count} unconfirmed sign-up(s)")
    return 0
