"""Commands for the daily digest: preview an edition, run one now."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import click

from mailer.cli.base import EXIT_FAILED, pass_settings, use_queue, use_redis, use_stores
from mailer.cli.tables import NUMERIC, counting, table
from mailer.cli.tables import console as cli_console
from mailer.config import Settings
from mailer.errors import InvalidInput, NotFound


def _edition(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput({"--date": f"{value!r} is not a date like 2020-10-28"}) from None


@click.group()
def digest() -> None:
    """The daily digest."""


@digest.command("preview", short_help="Write one edition's digest as .html and .txt.")
@click.option("--date", "day", required=True, metavar="YYYY-MM-DD",
              help="The edition: articles of this date (in each reader's time zone).")
@click.option("--sections", default="", help="Comma-separated; default all.")
@click.option("--timezone", "tz", default="", help="Default: MAILER_TIMEZONE.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help="Directory for the files (default: var/preview).")
@pass_settings
def digest_preview(settings: Settings, day: str, sections: str, tz: str,
                   out_dir: Path | None) -> int:
    """Write one edition's digest as .html and .txt, without sending anything."""
    from zoneinfo import ZoneInfo

    from mailer.cli.articles import article_store_for_reading
    from mailer.digest.layout import greeting
    from mailer.digest.plan import Variant, edition_bounds, in_sections
    from mailer.services import default_preferences, make_catalog, make_digest_mail
    from mailer.subscriptions.model import validate_preferences

    edition = _edition(day)
    prefs, errors = validate_preferences({"sections": sections, "timezone": tz},
                                         make_catalog(settings),
                                         default=default_preferences(settings))
    if errors:
        raise InvalidInput(errors)
    start, end = edition_bounds(edition, ZoneInfo(prefs.timezone))
    articles = in_sections([a for a in article_store_for_reading(settings).all()
                            if start <= a.published < end], prefs.sections)
    if not articles:
        raise NotFound(f"no articles on {edition} in {', '.join(prefs.sections)}: "
                       "no digest would go out")
    variant = Variant(edition, prefs.timezone, prefs.sections)
    subject, html_doc, text_doc = make_digest_mail(settings).render(
        variant, articles, salutation=greeting(prefs.hour, "Leyla"),
        unsubscribe_url=f"{settings.public_url}/unsubscribe/PREVIEW",
        preferences_url=f"{settings.public_url}/preferences/PREVIEW")
    out = out_dir or settings.var_dir / "preview"
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"digest-{edition}-{'-'.join(prefs.sections)}"
    stem.with_suffix(".html").write_text(html_doc, encoding="utf-8")
    stem.with_suffix(".txt").write_text(f"Subject: {subject}\n\n{text_doc}", encoding="utf-8")
    click.echo(str(stem.with_suffix(".html")))
    click.echo(str(stem.with_suffix(".txt")))
    return 0


@digest.command("run", short_help='Queue edition DATE for every active subscriber now.')
@click.option("--date", "day", required=True, metavar="YYYY-MM-DD",
              help="The edition: articles of this date (in each reader's time zone).")
@click.option("--wait/--no-wait", default=True, help="Follow delivery with a progress bar.")
@click.option("--timeout", default=3600.0, metavar="SECONDS",
              help="Stop following after this many seconds.")
@pass_settings
def digest_run(settings: Settings, day: str, wait: bool, timeout: float) -> int:
    """Queue edition DATE for every active subscriber now (each gets it once, however
    often this runs), then show sent/total until the run is through."""
    from mailer.delivery.ledger import summarise
    from mailer.services import check_redis, make_planner

    edition = _edition(day)
    stores = use_stores(settings, seed=True)
    check_redis(settings)
    report = make_planner(settings, stores, use_queue(settings)).plan(datetime.now(UTC),
                                                                      edition)
    click.echo(f"edition {edition}: {report.planned} digest(s) queued in {report.batches} "
               f"batch(es); {report.without_articles} subscriber(s) without articles")
    if not report.run_id or not wait:
        return 0
    done = 0
    with counting("sending", report.planned, "e-mails") as update:

        def progress(finished: int) -> None:
            nonlocal done
            update(finished)
            done = finished

        counts = stores.ledger.wait_for_run(report.run_id, report.planned, timeout,
                                            on_progress=progress, poll=0.25)
    click.echo(f"run {report.run_id}: {summarise(counts)}")
    return 0 if done == report.planned else EXIT_FAILED


@digest.command("runs")
@click.option("--limit", default=10, show_default=True, help="Show this many runs.")
@pass_settings
def digest_runs(settings: Settings, limit: int) -> int:
    """Recent digest runs, newest first, with their progress."""
    from mailer.delivery.ledger import JobStatus

    stores = use_stores(settings)
    rows, shown = [], stores.runs.id_length()
    for progress in stores.runs.progress(limit):
        run, counts = progress.run, progress.counts
        waiting = sum(counts.values()) - progress.finished
        rows.append((run.id[:shown], run.edition, progress.state, run.total, progress.sent,
                     counts.get(JobStatus.FAILED, 0), waiting,
                     progress.finished - progress.sent - counts.get(JobStatus.FAILED, 0),
                     run.reason))
    cli_console().print(table("Digest runs, newest first", [
        "run", "edition", "state", ("planned", NUMERIC), ("sent", NUMERIC),
        ("failed", NUMERIC), ("waiting", NUMERIC), ("not sent", NUMERIC), "why"], rows))
    return 0


@digest.command("pause", short_help='Stop sending RUN_ID until resumed.')
@click.argument("run_id")
@pass_settings
def digest_pause(settings: Settings, run_id: str) -> int:
    """Stop sending RUN_ID: batches that start from now on send nothing (a batch
    already sending finishes); its messages wait, queued, for `resume`."""
    runs = use_stores(settings).runs
    run_id = runs.resolve(run_id)
    runs.pause_or_explain(run_id, "paused by an operator")
    click.echo(f"run {run_id}: paused")
    return 0


@digest.command("resume", short_help='Send the rest of a paused run.')
@click.argument("run_id")
@pass_settings
def digest_resume(settings: Settings, run_id: str) -> int:
    """Send the rest of a paused run (what is still inside its delivery window)."""
    from mailer.services import make_failure_window, make_planner

    stores = use_stores(settings)
    run_id = stores.runs.resolve(run_id)
    ids = stores.runs.resume(run_id)
    make_failure_window(settings, use_redis(settings)).reset(run_id)  # judged afresh
    batches = make_planner(settings, stores, use_queue(settings)).enqueue_batches(run_id, ids)
    click.echo(f"run {run_id}: running; {len(ids)} message(s) queued in {batches} batch(es)")
    return 0


@digest.command("cancel", short_help='Stop RUN_ID for good; its unsent messages are cancelled.')
@click.argument("run_id")
@pass_settings
def digest_cancel(settings: Settings, run_id: str) -> int:
    """Stop RUN_ID for good: its unsent messages are recorded as cancelled."""
    runs = use_stores(settings).runs
    run_id = runs.resolve(run_id)
    count = runs.cancel(run_id)
    click.echo(f"run {run_id}: cancelled; {count} message(s) will not be sent")
    return 0
