"""Commands about the database itself."""

from __future__ import annotations

import click

from mailer.cli.base import pass_settings
from mailer.config import Settings


@click.group()
def db() -> None:
    """The database schema."""


@db.command("upgrade")
@pass_settings
def db_upgrade(settings: Settings) -> int:
    """Apply all migrations (safe to run again)."""
    from sqlalchemy import make_url

    from mailer import services
    from mailer.db import normalise_url, upgrade

    with services.database(settings) as engine:
        upgrade(engine)
    shown = make_url(normalise_url(settings.database)).render_as_string(hide_password=True)
    click.echo(f"database at the latest schema: {shown}")
    return 0
