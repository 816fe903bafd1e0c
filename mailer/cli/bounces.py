"""`mailer bounces classify`: what saved returned messages are, one JSON line per file,
in the shape issue 23 fixes for operators and their scripts."""

from __future__ import annotations

import json
from pathlib import Path

import click

from mailer.cli.base import EXIT_INPUT, pass_settings
from mailer.config import Settings
from mailer.inbound.classify import classify


@click.group()
def bounces() -> None:
    """Returned mail: bounces, complaints, replies."""


@bounces.command("classify")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--unsubscribe-mailbox", default=None,
              help="Mail to this address (with or without a +tag) is an unsubscribe "
                   "request; default: the settings' unsubscribe mailbox.")
@click.option("--envelope-to", default=None,
              help="The envelope recipient the messages were delivered to, when the "
                   "headers do not say.")
@pass_settings
def classify_files(settings: Settings, files: tuple[Path, ...], unsubscribe_mailbox: str | None,
                   envelope_to: str | None) -> None:
    """One JSON line per FILE: its type and recipients."""
    mailbox = unsubscribe_mailbox or settings.unsubscribe_mailbox
    unreadable = False
    for path in files:
        try:
            raw = path.read_bytes()
        except OSError as exc:
            click.echo(f"error: {path}: {exc.strerror or exc}", err=True)
            unreadable = True
            continue
        result = classify(raw, envelope_to=envelope_to, unsubscribe_mailbox=mailbox)
        click.echo(json.dumps({
            "file": str(path), "type": result.type,
            "recipients": [{"address": r.address, "status": r.status, "hard": r.hard}
                           for r in result.recipients]}, ensure_ascii=False))
    if unreadable:
        raise click.exceptions.Exit(EXIT_INPUT)
