"""Commands about messages: share, job, preview."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from mailer.cli.articles import article_store_for_reading
from mailer.cli.base import EXIT_FAILED, pass_settings, use_queue, use_stores
from mailer.config import Settings
from mailer.delivery.ledger import FINAL
from mailer.errors import NotFound
from mailer.share.mail import build_share_envelope
from mailer.share.request import validate_share


@click.command()
@click.argument("article_id")
@click.option("--sender-name", required=True, help="Who shares: their name, one line.")
@click.option("--sender-email", required=True,
              help="Who shares: their address (shown to the friend, and Reply-To).")
@click.option("--friend-name", required=True, help="Who receives it: their name.")
@click.option("--friend-email", required=True, help="Who receives it: their address.")
@click.option("--message", default="", help="A short plain-text note.")
@click.option("--wait", "wait_seconds", type=float, default=0, metavar="SECONDS",
              help="Wait up to this many seconds for delivery.")
@pass_settings
def share(settings: Settings, article_id: str, sender_name: str, sender_email: str,
          friend_name: str, friend_email: str, message: str, wait_seconds: float) -> int:
    """Queue a share of ARTICLE_ID; prints the job id."""
    from mailer.share.accept import ShareIntake

    fields = {"article_id": article_id, "sender_name": sender_name,
              "sender_email": sender_email, "friend_name": friend_name,
              "friend_email": friend_email, "message": message}
    validate_share(fields, check_deliverability=settings.check_deliverability)
    stores = use_stores(settings, seed=True)
    ledger = stores.ledger
    intake = ShareIntake(articles=stores.articles,
                         check_deliverability=settings.check_deliverability)
    job_id = intake.submit(fields, ledger=ledger, queue=use_queue(settings))
    click.echo(job_id)
    if wait_seconds <= 0:
        return 0
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        record = ledger.get(job_id)
        if record and record.status in FINAL:  # suppressed and refused included
            click.echo(f"{record.status}: {record.last_reply}")
            return 0 if record.status == "sent" else EXIT_FAILED
        time.sleep(0.2)
    click.echo("still queued; check later with `mailer job ID`", err=True)
    return EXIT_FAILED


@click.command()
@click.argument("job_id")
@pass_settings
def job(settings: Settings, job_id: str) -> int:
    """Show a job's delivery record as JSON."""

    record = use_stores(settings).ledger.get(job_id)
    if record is None:
        raise NotFound(f"unknown job {job_id!r}")
    click.echo(json.dumps(record.public(operator=True), indent=2))
    return 0


@click.group()
def preview() -> None:
    """Render e-mails to files without sending them."""


@preview.command("share", short_help="Write ARTICLE_ID's share e-mail as .html, .txt, .eml.")
@click.argument("article_id")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help="Directory for the files (default: var/preview).")
@click.option("--sender-name", default="Aysel Məmmədova", help="Who shares: their name.")
@click.option("--sender-email", default="aysel@example.com", help="Who shares: their address.")
@click.option("--friend-name", default="Vüqar Əliyev", help="Who receives it: their name.")
@click.option("--friend-email", default="vuqar@example.org",
              help="Who receives it: their address.")
@click.option("--message", default="Worth reading: the NAM statement is quoted in full.",
              help="The note from the sender, plain text.")
@pass_settings
def preview_share(settings: Settings, article_id: str, out_dir: Path | None, sender_name: str,
                  sender_email: str, friend_name: str, friend_email: str, message: str) -> int:
    """Write the share e-mail for ARTICLE_ID as .html, .txt and .eml files."""
    from mailer.services import make_renderer

    store = article_store_for_reading(settings)
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
