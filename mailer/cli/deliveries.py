"""Commands over the delivery ledger and the suppression list."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import click

from mailer.cli.base import pass_settings, use_queue, use_stores
from mailer.config import Settings
from mailer.errors import InvalidInput
from mailer.models import utcnow

_AGO = re.compile(r"^(\d+)\s*([mhd])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def parse_since(value: str) -> datetime:
    """`30m`, `24h`, `7d`, or an ISO date or time (UTC unless it says otherwise)."""
    match = _AGO.match(value.strip().lower())
    if match:
        return utcnow() - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput({"--since": f"{value!r} is not like 24h, 7d or 2026-11-27T06:00"}) \
            from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@click.group()
def deliveries() -> None:
    """The delivery ledger: one row per message and its state."""


@deliveries.command("failed")
@click.option("--since", default="24h", show_default=True,
              help="How far back: 30m, 24h, 7d, or an ISO date/time.")
@click.option("--digest", "run_id", default=None, help="Only this digest run.")
@click.option("--limit", default=1000, show_default=True, help="Show at most this many.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line.")
@pass_settings
def failed(settings: Settings, since: str, run_id: str | None, limit: int,
           as_json: bool) -> int:
    """List failed messages, newest first, with their last SMTP reply."""

    stores = use_stores(settings)
    if run_id is not None:
        run_id = stores.runs.resolve(run_id)  # NotFound for a mistyped id, not "0 failed"
    rows = stores.ledger.failed(parse_since(since), run_id=run_id, limit=limit)
    for row in rows:
        if as_json:
            click.echo(json.dumps({
                "id": row.id, "kind": row.kind, "recipient": row.recipient,
                "reference": row.reference, "run_id": row.run_id, "attempts": row.attempts,
                "last_reply": row.last_reply, "updated_at": row.updated_at.isoformat()}))
        else:
            click.echo(f"{row.updated_at:%Y-%m-%d %H:%M:%S}  {row.id}  {row.kind:<7} "
                       f"{row.recipient}  {row.last_reply}")
    if not as_json:
        click.echo(f"{len(rows)} failed since {parse_since(since):%Y-%m-%d %H:%M} UTC", err=True)
    return 0


@deliveries.command("resend", short_help='Re-queue failed messages, each once.')
@click.option("--failed", "only_failed", is_flag=True, required=True,
              help="Re-queue the failed messages (required: nothing else is resent).")
@click.option("--digest", "run_id", default=None, help="Only this digest run's.")
@pass_settings
def resend(settings: Settings, only_failed: bool, run_id: str | None) -> int:
    """Re-queue failed messages, each once: a message resent here is `queued` again,
    so running this twice does not send it twice."""
    from mailer.delivery.resend import resend_failed
    from mailer.services import check_redis, make_planner

    if not only_failed:
        raise InvalidInput({"--failed": "say --failed: only failed messages can be resent"})
    stores = use_stores(settings)
    if run_id is not None:
        run_id = stores.runs.resolve(run_id)  # NotFound for a mistyped id
    check_redis(settings)
    queue = use_queue(settings)
    report = resend_failed(ledger=stores.ledger, queue=queue,
                           planner=make_planner(settings, stores, queue), run_id=run_id,
                           window_hours=settings.digest_window_hours)
    click.echo(f"re-queued {report.messages} message(s) and {report.digests} digest(s) "
               f"in {report.batches} batch(es)")
    return 0


@click.group()
def suppressions() -> None:
    """Addresses no mail goes to: hard bounces and complaints."""


@suppressions.command("list")
@click.option("--limit", default=1000, show_default=True, help="Show at most this many.")
@pass_settings
def suppressions_list(settings: Settings, limit: int) -> int:

    for entry in use_stores(settings).suppressions.list(limit):
        click.echo(f"{entry.created_at:%Y-%m-%d %H:%M:%S}  {entry.source:<7} {entry.email}  "
                   f"{entry.reason}")
    return 0


@suppressions.command("add")
@click.argument("email")
@click.option("--reason", default="added by an operator", show_default=True,
              help="Why: shown in `suppressions list`.")
@pass_settings
def suppressions_add(settings: Settings, email: str, reason: str) -> int:
    from mailer.validation import check_address

    address = check_address(email, "EMAIL")
    added = use_stores(settings).suppressions.add(address, reason, "manual")
    click.echo(f"{address}: {'suppressed' if added else 'already suppressed'}")
    return 0


@suppressions.command("remove", short_help='Let mail go to an address again.')
@click.argument("email")
@pass_settings
def suppressions_remove(settings: Settings, email: str) -> int:
    """Let mail go to an address again (after its owner fixed the mailbox)."""
    from mailer.errors import NotFound

    if not use_stores(settings).suppressions.remove(email):
        raise NotFound(f"{email} is not on the suppression list")
    click.echo(f"{email}: removed from the suppression list")
    return 0
