"""The `mailer` command. Errors are mapped to exit codes in one place, `main`."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from mailer.articles import ArticleStore, MemoryArticleStore, read_articles, read_seed_articles
from mailer.config import Settings, load_settings
from mailer.errors import ConfigError, InvalidInput, MailerError, NotFound, ServiceUnavailable
from mailer.message import build_share_envelope
from mailer.validation import validate_share

EXIT_FAILED = 1  # the command ran, but what it waited for failed
EXIT_INPUT = 2  # bad input or configuration: one line on stderr says which
EXIT_UNAVAILABLE = 3  # Redis, the broker or another service did not answer
EXIT_INTERRUPTED = 130  # Ctrl-C or SIGTERM


def exit_code(exc: MailerError) -> int:
    if isinstance(exc, InvalidInput | NotFound | ConfigError):
        return EXIT_INPUT
    if isinstance(exc, ServiceUnavailable):
        return EXIT_UNAVAILABLE
    return EXIT_FAILED


def main(argv: list[str] | None = None) -> None:
    try:
        code = cli.main(args=argv, prog_name="mailer", standalone_mode=False)
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except click.ClickException as exc:
        exc.show()
        code = exc.exit_code
    except (click.Abort, KeyboardInterrupt):
        click.echo("interrupted", err=True)
        code = EXIT_INTERRUPTED
    except MailerError as exc:
        click.echo(f"error: {exc}", err=True)
        code = exit_code(exc)
    sys.exit(code if isinstance(code, int) else 0)


@click.group()
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Share-to-friend and digest e-mail for news sites."""
    ctx.obj = load_settings()


pass_settings = click.make_pass_decorator(Settings)


@cli.command()
@click.argument("article_id")
@click.option("--sender-name", required=True)
@click.option("--sender-email", required=True)
@click.option("--friend-name", required=True)
@click.option("--friend-email", required=True)
@click.option("--message", default="", help="A short plain-text note.")
@click.option("--wait", "wait_seconds", type=float, default=0,
              help="Wait up to this many seconds for delivery.")
@pass_settings
def share(settings: Settings, article_id: str, sender_name: str, sender_email: str,
          friend_name: str, friend_email: str, message: str, wait_seconds: float) -> int:
    """Queue a share of ARTICLE_ID; prints the job id."""
    from mailer.queue import load_job_queue
    from mailer.services import open_stores
    from mailer.share import submit_share

    fields = {"article_id": article_id, "sender_name": sender_name,
              "sender_email": sender_email, "friend_name": friend_name,
              "friend_email": friend_email, "message": message}
    validate_share(fields, check_deliverability=settings.check_deliverability)
    stores = open_stores(settings)
    ledger = stores.ledger
    queue = load_job_queue(settings)
    try:
        job_id = submit_share(fields, articles=stores.articles, ledger=ledger, queue=queue,
                              check_deliverability=settings.check_deliverability)
    finally:
        queue.close()
    click.echo(job_id)
    if wait_seconds <= 0:
        return 0
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        record = ledger.get(job_id)
        if record and record.status in {"sent", "failed"}:
            click.echo(f"{record.status}: {record.last_reply}")
            return 0 if record.status == "sent" else EXIT_FAILED
        time.sleep(0.2)
    click.echo("still queued; check later with `mailer job ID`", err=True)
    return EXIT_FAILED


@cli.command()
@click.argument("job_id")
@pass_settings
def job(settings: Settings, job_id: str) -> int:
    """Show a job's delivery record as JSON."""
    from mailer.services import open_stores

    record = open_stores(settings, seed=False).ledger.get(job_id)
    if record is None:
        raise NotFound(f"unknown job {job_id!r}")
    click.echo(json.dumps({**record.public(), "recipient": record.recipient}, indent=2))
    return 0


@cli.group()
def preview() -> None:
    """Render e-mails to files without sending them."""


@preview.command("share")
@click.argument("article_id")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help="Directory for the files (default: var/preview).")
@click.option("--sender-name", default="Aysel Məmmədova")
@click.option("--sender-email", default="aysel@example.com")
@click.option("--friend-name", default="Vüqar Əliyev")
@click.option("--friend-email", default="vuqar@example.org")
@click.option("--message", default="Worth reading: the NAM statement is quoted in full.")
@pass_settings
def preview_share(settings: Settings, article_id: str, out_dir: Path | None, sender_name: str,
                  sender_email: str, friend_name: str, friend_email: str, message: str) -> int:
    """Write the share e-mail for ARTICLE_ID as .html, .txt and .eml files."""
    from mailer.services import make_renderer

    store = _article_store_for_reading(settings)
    share = validate_share({"article_id": article_id, "sender_name": sender_name,
                            "sender_email": sender_email, "friend_name": friend_name,
                            "friend_email": friend_email, "message": message})
    article = store.get(share.article_id)
    rendered = make_renderer(settings).render(article, share)
    envelope = build_share_envelope(rendered, share, site_name=settings.site_name,
                                    from_email=settings.from_email, domain=settings.site_domain)
    out = out_dir or settings.var_dir / "preview"
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"share-{article.id}"
    for suffix, content in ((".html", rendered.html), (".txt", rendered.text)):
        stem.with_suffix(suffix).write_text(content, encoding="utf-8")
    stem.with_suffix(".eml").write_bytes(envelope.as_bytes())
    for suffix in (".html", ".txt", ".eml"):
        click.echo(str(stem.with_suffix(suffix)))
    return 0


def _article_store_for_reading(settings: Settings) -> ArticleStore:
    """The database's articles if it answers; the shipped seeds alone if it does not
    (or is not migrated yet), so a preview works before anything is set up."""
    from mailer.services import open_stores

    try:
        return open_stores(settings).articles
    except (ServiceUnavailable, ConfigError) as exc:
        click.echo(f"note: using the seed articles only ({exc})", err=True)
        return MemoryArticleStore(read_seed_articles(settings.seeds_dir))


@cli.group()
def articles() -> None:
    """Articles that can be shared."""


@articles.command("import")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--section", default=None, help="Section for feed entries without a category.")
@pass_settings
def articles_import(settings: Settings, path: Path, section: str | None) -> int:
    """Import articles from JSON, JSON Lines or an RSS/Atom feed (.xml, .rss, .atom).

    The same id again updates the article; it never makes a second one."""
    from mailer.services import open_stores

    items = read_articles(path, section)
    count = open_stores(settings).articles.put_many(items)
    click.echo(f"imported {count} article(s) from {path}")
    return 0


@articles.command("list")
@pass_settings
def articles_list(settings: Settings) -> int:
    """List known articles, newest first."""
    for article in _article_store_for_reading(settings).all():
        click.echo(f"{article.id}\t{article.section}\t{article.published.isoformat()}\t"
                   f"{article.title}")
    return 0


@cli.group()
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


@cli.group()
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
    from mailer.subscribe import submit_signup
    from mailer.subscribers import validate_signup

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
    from mailer.csvio import read_subscribers
    from mailer.services import default_preferences, make_catalog, open_stores

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
    from mailer.csvio import write_subscribers
    from mailer.services import open_stores
    from mailer.subscribers import Status

    rows = open_stores(settings, seed=False).subscribers.list(Status(status) if status else None)
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
    from mailer.subscribers import Status

    for s in open_stores(settings, seed=False).subscribers.list(Status(status) if status
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


@cli.command()
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=8000, type=int)
@pass_settings
def serve(settings: Settings, host: str, port: int) -> int:
    """Run the HTTP API under uvicorn (for production, run uvicorn yourself)."""
    import uvicorn

    from mailer.api import create_app

    uvicorn.run(create_app(settings), host=host, port=port)
    return 0


@cli.command()
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=8025, type=int)
@pass_settings
def sink(settings: Settings, host: str, port: int) -> int:
    """Run the local SMTP sink, storing every message under var/outbox/."""
    from mailer.sink import start_sink

    controller = start_sink(settings.outbox_dir, host=host, port=port)
    click.echo(f"SMTP sink on {host}:{port}, writing to {settings.outbox_dir}; Ctrl-C stops")
    try:
        _wait_for_interrupt()
    finally:
        controller.stop()
    return 0


@cli.command()
@click.option("--port", default=8000, type=int, help="Port for the API.")
@pass_settings
def stack(settings: Settings, port: int) -> int:
    """Run the embedded stack (Redis, SMTP sink, worker, API) until Ctrl-C."""
    from mailer.demo import run_stack

    with run_stack(settings, api_port=port) as running:
        click.echo(f"open {running.api_url}/ ; mail lands in {settings.outbox_dir}; "
                   "Ctrl-C stops")
        _wait_for_interrupt()
    return 0


def _wait_for_interrupt() -> None:
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        click.echo("stopping")


@cli.command()
@pass_settings
def demo(settings: Settings) -> int:
    """Start the embedded stack, share the seed article, wait for delivery, stop."""
    from mailer.demo import run_demo

    return run_demo(settings, echo=click.echo)


if __name__ == "__main__":
    main()
