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
    from mailer.services import connect_redis, make_ledger, seeded_article_store
    from mailer.share import submit_share

    client = connect_redis(settings)
    ledger = make_ledger(settings, client)
    fields = {"article_id": article_id, "sender_name": sender_name,
              "sender_email": sender_email, "friend_name": friend_name,
              "friend_email": friend_email, "message": message}
    validate_share(fields, check_deliverability=settings.check_deliverability)
    queue = load_job_queue(settings)
    try:
        job_id = submit_share(fields, articles=seeded_article_store(settings, client),
                              ledger=ledger, queue=queue,
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
    from mailer.services import connect_redis, make_ledger

    record = make_ledger(settings, connect_redis(settings)).get(job_id)
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
    """The shared store if Redis answers; the shipped seeds alone if it does not, so a
    preview works before anything is running."""
    from mailer.services import connect_redis, seeded_article_store

    try:
        return seeded_article_store(settings, connect_redis(settings))
    except ServiceUnavailable:
        click.echo("note: Redis not reachable; using the seed articles only", err=True)
        return MemoryArticleStore(read_seed_articles(settings.seeds_dir))


@cli.group()
def articles() -> None:
    """Articles that can be shared."""


@articles.command("import")
@click.argument("path", type=click.Path(path_type=Path))
@pass_settings
def articles_import(settings: Settings, path: Path) -> int:
    """Import articles from a JSON or JSON Lines file (same id: updated, not duplicated)."""
    from mailer.services import connect_redis, seeded_article_store

    items = read_articles(path)
    count = seeded_article_store(settings, connect_redis(settings)).put_many(items)
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
