"""Commands about breaking-news alerts: what went out, and stopping one."""

from __future__ import annotations

import click

from mailer.cli.base import pass_settings, use_stores
from mailer.cli.tables import NUMERIC, table
from mailer.cli.tables import console as cli_console
from mailer.config import Settings


@click.group()
def alerts() -> None:
    """Breaking-news alerts (`mailer articles alert ID` sends one)."""


@alerts.command("list", short_help="Recent alerts with their progress.")
@click.option("--limit", default=10, show_default=True, help="Show this many alerts.")
@pass_settings
def alerts_list(settings: Settings, limit: int) -> int:
    """Recent alerts, newest first: the story, its state, readers planned so far and
    sent (readers whose quiet hours hid it are planned when they end)."""
    stores = use_stores(settings)
    shown = stores.runs.id_length()
    rows = [(p.run.id[:shown], p.run.article_id or "", p.state, p.run.total, p.sent,
             p.finished - p.sent, p.run.reason)
            for p in stores.runs.progress(limit * 5) if p.run.kind == "alert"][:limit]
    cli_console().print(table("Alerts, newest first", [
        "run", "story", "state", ("planned", NUMERIC), ("sent", NUMERIC),
        ("not sent", NUMERIC), "why"], rows))
    return 0


@alerts.command("cancel", short_help="Stop an alert going out.")
@click.argument("alert")
@pass_settings
def alerts_cancel(settings: Settings, alert: str) -> int:
    """Stop ALERT (its run id, or its story's id) for good: messages not yet sent are
    recorded as cancelled, and no reader is planned for it any more."""
    from mailer.errors import NotFound

    runs = use_stores(settings).runs
    found = runs.alert_for(alert)
    run_id = found.id if found is not None else runs.resolve(alert)
    if found is None and runs.get(run_id).kind != "alert":
        raise NotFound(f"{alert!r} is a digest run, not an alert (`mailer digest cancel`)")
    count = runs.cancel(run_id)
    click.echo(f"alert {run_id}: cancelled; {count} message(s) will not be sent")
    return 0
