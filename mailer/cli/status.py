"""`mailer status`: the state of the service on one screen; exit 0 healthy, 1 degraded."""

from __future__ import annotations

import json
import time

import click
from rich.table import Table

from mailer.cli.base import EXIT_FAILED, pass_settings, use_queue, use_redis, use_stores
from mailer.cli.tables import NUMERIC, duration, table
from mailer.cli.tables import console as cli_console
from mailer.config import Settings
from mailer.ops.feedback_status import FeedbackFigures
from mailer.ops.status import RelayState, Snapshot


def render(status: Snapshot) -> None:
    console = cli_console()
    verdict = "[green]healthy[/]" if status.healthy else "[red]degraded[/]"
    console.print(f"newsmailer status at {status.at}: {verdict}")
    for problem in status.problems:
        console.print(f"  [red]•[/] {problem}")
    for note in status.notes:
        console.print(f"  [yellow]•[/] note: {note}")
    console.print(table("Queues (lanes, most urgent first)", [
        "queue", ("waiting", NUMERIC), ("oldest", NUMERIC), ("limit", NUMERIC),
        ("reserved by workers", NUMERIC)],
        [(q.name, q.waiting, _oldest(q.waiting, q.oldest_seconds), duration(q.max_age),
          q.reserved) for q in status.queues]))
    console.print(table("Workers alive", ["worker", "consumes"],
                        [(name, ", ".join(names))
                         for name, names in sorted(status.workers.items())]))
    console.print(table("Outcomes", ["window", "kind"] + [(s, NUMERIC) for s in OUTCOME_COLUMNS],
                        [(window, kind, *(counts.get(s, 0) for s in OUTCOME_COLUMNS))
                         for window, kinds in status.outcomes.items()
                         for kind, counts in sorted(kinds.items())]))
    console.print(table("Relays", ["relay", "health", "since"],
                        [(r.id, _relay_health(r),
                          r.since or "-") for r in status.relays]))
    console.print(table("Send-rate limits", ["bucket", "rate", ("next free slot", NUMERIC)],
                        [(b.key, b.rate or "(domain)", duration(b.next_slot_seconds))
                         for b in status.buckets]))
    console.print(table("Digest runs", ["run", "edition", "state", ("sent", NUMERIC),
                                        ("total", NUMERIC), ("ETA", NUMERIC), "why"],
                        [(r.id[:status.run_id_length], r.edition, r.status, r.sent, r.total,
                          duration(r.eta_seconds), r.reason) for r in status.runs]))
    console.print(f"next digest due: {status.next_digest or 'none (no active subscribers)'}")
    for part in newsroom_tables(status):
        console.print(part)
    if status.feedback is not None:
        for part in feedback_tables(status.feedback, status.run_id_length):
            console.print(part)


def _answers_within(settings: Settings, timeout: float) -> None:
    """Redis away or hung says so (exit 3) within `timeout`, not after the 5 s socket
    timeouts of each client that would ask it next."""
    import redis

    with redis.Redis.from_url(settings.redis_url, socket_timeout=timeout,
                              socket_connect_timeout=timeout) as quick:
        quick.ping()


def _relay_health(relay: RelayState) -> str:
    if relay.state == "unknown":
        return "unknown: no message went through it yet"
    return f"unhealthy: {relay.reason}" if not relay.healthy else relay.state


def _oldest(waiting: int, seconds: float | None) -> str:
    """`n/a` where the broker cannot tell (RabbitMQ), rather than a wrong figure."""
    if not waiting:
        return "-"
    return "n/a" if seconds is None else duration(seconds)


def newsroom_tables(status: Snapshot) -> list[Table]:
    """Each newsletter's readers and how often they hear; the latest alerts, how far
    they are, and how long after the publish call their first and last messages went
    out ("last": of the readers planned at once, not those held for their morning)."""
    return [
        table("Newsletters", ["newsletter", "name", "cadence", ("readers", NUMERIC)],
              [(n.slug, n.name, n.when, n.readers) for n in status.newsletters]),
        table("Breaking-news alerts", [
            "run", "story", "state", ("planned", NUMERIC), ("sent", NUMERIC),
            ("waiting", NUMERIC), ("age", NUMERIC), ("first sent", NUMERIC),
            ("last sent", NUMERIC), "why"],
            [(a.id[:status.run_id_length], a.story, a.status, a.planned, a.sent, a.waiting,
              duration(a.age_seconds), duration(a.first_seconds),
              duration(a.last_seconds), a.reason) for a in status.alerts]),
    ]


def _percent(ratio: float) -> str:
    return f"{ratio:.2%}"


def feedback_tables(figures: FeedbackFigures, id_length: int) -> list[Table]:
    """What came back: rates per kind and per recent run, refusals that blame us by
    domain, and returned mail that acted on no one."""
    hours = figures.window_hours
    return [
        table(f"Coming back, last {hours} h", [
            "kind", ("sent", NUMERIC), ("hard bounces", NUMERIC), ("soft", NUMERIC),
            ("complaints", NUMERIC), ("unsubscribed by mail", NUMERIC),
            ("blame us", NUMERIC)],
            [(k.kind, k.sent, f"{k.hard_bounces} ({_percent(k.hard_bounce_ratio)})",
              k.soft_bounces, f"{k.complaints} ({_percent(k.complaint_ratio)})",
              f"{k.unsubscribes} ({_percent(k.unsubscribe_ratio)})", k.blames_us)
             for k in figures.kinds]),
        table("Coming back, recent digest runs", [
            "run", "edition", "state", ("sent", NUMERIC), ("hard bounces", NUMERIC),
            ("complaints", NUMERIC)],
            [(r.id[:id_length], r.edition, r.status, r.sent,
              f"{r.hard_bounces} ({_percent(r.hard_bounce_ratio)})",
              f"{r.complaints} ({_percent(r.complaint_ratio)})") for r in figures.runs]),
        table(f"Refused for our server or content, last {hours} h (ours to fix)",
              ["recipient domain", ("refusals", NUMERIC)],
              [(d.domain, d.refusals) for d in figures.refusals]),
        table(f"Returned mail that acted on no one, last {hours} h",
              ["token", ("messages", NUMERIC)], sorted(figures.untrusted.items())),
    ]


OUTCOME_COLUMNS = ("sent", "deferred", "failed", "suppressed")


@click.command("status", short_help="Queues, workers, outcomes, limits, runs, alerts; exit 1 "
                                    "if degraded.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object, for scripts.")
@click.option("--watch", type=float, default=None, metavar="SECONDS",
              help="Refresh every SECONDS until Ctrl-C.")
@click.option("--max-age", type=float, default=300.0, show_default=True,
              help="Seconds a job may wait before the queue counts as degraded.")
@click.option("--urgent-max-age", type=float, default=60.0, show_default=True,
              help="Seconds a share or an alert may wait (its lane's oldest job, an "
                   "alert's first reader) before it counts as degraded.")
@click.option("--timeout", type=float, default=1.0, show_default=True,
              help="Seconds to wait for workers to answer.")
@pass_settings
def status(settings: Settings, as_json: bool, watch: float | None, max_age: float,
           urgent_max_age: float, timeout: float) -> int:
    """Queues, workers, recent outcomes, rate limits, digest runs, newsletters' readers
    and the latest alerts. Exit code 0 when healthy, 1 when degraded (no worker, a job
    waiting too long, a paused run, an alert no reader has had a minute after it was
    published)."""
    from mailer.ops.status import collect

    stores = use_stores(settings)
    _answers_within(settings, timeout)
    client, queue = use_redis(settings), use_queue(settings)
    while True:
        snapshot = collect(settings, stores, client, queue, max_age=max_age, timeout=timeout,
                           urgent_max_age=urgent_max_age)
        if as_json:
            click.echo(json.dumps(snapshot.as_dict()))
        else:
            if watch:
                click.clear()
            render(snapshot)
        if not watch:
            return 0 if snapshot.healthy else EXIT_FAILED
        time.sleep(watch)
