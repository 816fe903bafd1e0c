"""`mailer status`: the state of the service on one screen; exit 0 healthy, 1 degraded."""

from __future__ import annotations

import json
import time

import click

from mailer.cli.base import EXIT_FAILED, pass_settings
from mailer.config import Settings
from mailer.ops.status import Snapshot


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 120:
        return f"{value:.1f} s"
    if value < 7200:
        return f"{value / 60:.0f} min"
    return f"{value / 3600:.1f} h"


def render(status: Snapshot) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    verdict = "[green]healthy[/]" if status.healthy else "[red]degraded[/]"
    console.print(f"newsmailer status at {status.at}: {verdict}")
    for problem in status.problems:
        console.print(f"  [red]•[/] {problem}")
    queues = Table("queue", "waiting", "oldest", "reserved by workers", title="Queues")
    for q in status.queues:
        queues.add_row(q.name, str(q.waiting), _seconds(q.oldest_seconds), str(q.reserved))
    console.print(queues)
    workers = Table("worker", "consumes", title="Workers alive")
    for name, names in sorted(status.workers.items()):
        workers.add_row(name, ", ".join(names))
    console.print(workers)
    outcomes = Table("window", "kind", "sent", "deferred", "failed", "suppressed",
                     title="Outcomes")
    for window, kinds in status.outcomes.items():
        for kind, counts in sorted(kinds.items()):
            outcomes.add_row(window, kind, *(str(counts[s]) for s in
                                             ("sent", "deferred", "failed", "suppressed")))
    console.print(outcomes)
    relays = Table("relay", "health", "since", title="Relays")
    for relay in status.relays:
        relays.add_row(relay.id, "healthy" if relay.healthy else f"unhealthy: {relay.reason}",
                       relay.since or "-")
    console.print(relays)
    buckets = Table("bucket", "rate", "next free slot", title="Send-rate limits")
    for b in status.buckets:
        buckets.add_row(b.key, b.rate or "(domain)", _seconds(b.next_slot_seconds))
    console.print(buckets)
    runs = Table("run", "edition", "status", "sent/total", "ETA", "why", title="Digest runs")
    for r in status.runs:
        runs.add_row(r.id, r.edition, r.status, f"{r.sent}/{r.total}",
                     _seconds(r.eta_seconds), r.reason)
    console.print(runs)
    console.print(f"next digest due: {status.next_digest or 'none (no active subscribers)'}")


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="One JSON object, for scripts.")
@click.option("--watch", type=float, default=None, metavar="SECONDS",
              help="Refresh every SECONDS until Ctrl-C.")
@click.option("--max-age", type=float, default=300.0, show_default=True,
              help="Seconds a job may wait before the queue counts as degraded.")
@click.option("--timeout", type=float, default=1.0, show_default=True,
              help="Seconds to wait for workers to answer.")
@pass_settings
def status(settings: Settings, as_json: bool, watch: float | None, max_age: float,
           timeout: float) -> int:
    """Queues, workers, recent outcomes, rate limits and digest runs. Exit code 0 when
    healthy, 1 when degraded (no worker, a job waiting too long, a paused run)."""
    from mailer.ops.status import collect
    from mailer.queue import load_job_queue
    from mailer.services import make_redis, open_stores

    stores = open_stores(settings, seed=False)
    client = make_redis(settings)
    queue = load_job_queue(settings)
    try:
        while True:
            snapshot = collect(settings, stores, client, queue, max_age=max_age,
                               timeout=timeout)
            if as_json:
                click.echo(json.dumps(snapshot.as_dict()))
            else:
                if watch:
                    click.clear()
                render(snapshot)
            if not watch:
                return 0 if snapshot.healthy else EXIT_FAILED
            time.sleep(watch)
    finally:
        queue.close()
        client.close()
