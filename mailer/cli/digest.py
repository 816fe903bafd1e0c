"""Commands for the daily digest: preview an edition, run one now."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import click

from mailer.cli.base import EXIT_FAILED, pass_settings
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


@digest.command("preview")
@click.option("--date", "day", required=True, help="The edition: articles of this date.")
@click.option("--sections", default="", help="Comma-separated; default all.")
@click.option("--timezone", "tz", default="", help="Default: MAILER_TIMEZONE.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help="Directory for the files (default: var/preview).")
@pass_settings
def digest_preview(settings: Settings, day: str, sections: str, tz: str,
                   out_dir: Path | None) -> int:
    """Write one edition's digest as .html and .txt, without sending anything."""
    from zoneinfo import ZoneInfo

    from mailer.cli.mail import article_store_for_reading
    from mailer.digest import Variant, edition_bounds, in_sections
    from mailer.services import default_preferences, make_catalog, make_digest_mail
    from mailer.subscribers import validate_preferences

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
        variant, articles, salutation=", Leyla", unsubscribe_url=f"{settings.public_url}"
        "/unsubscribe/PREVIEW", preferences_url=f"{settings.public_url}/preferences/PREVIEW")
    out = out_dir or settings.var_dir / "preview"
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"digest-{edition}-{'-'.join(prefs.sections)}"
    stem.with_suffix(".html").write_text(html_doc, encoding="utf-8")
    stem.with_suffix(".txt").write_text(f"Subject: {subject}\n\n{text_doc}", encoding="utf-8")
    click.echo(str(stem.with_suffix(".html")))
    click.echo(str(stem.with_suffix(".txt")))
    return 0


@digest.command("run")
@click.option("--date", "day", required=True, help="The edition: articles of this date.")
@click.option("--wait/--no-wait", default=True, help="Follow delivery with a progress bar.")
@click.option("--timeout", default=3600.0, help="Stop following after this many seconds.")
@pass_settings
def digest_run(settings: Settings, day: str, wait: bool, timeout: float) -> int:
    """Queue edition DATE for every active subscriber now (each gets it once, however
    often this runs), then show sent/total until the run is through."""
    from mailer.ledger import summarise
    from mailer.queue import load_job_queue
    from mailer.services import make_planner, open_stores

    edition = _edition(day)
    stores = open_stores(settings)
    queue = load_job_queue(settings)
    try:
        report = make_planner(settings, stores, queue).plan(datetime.now(UTC), edition)
    finally:
        queue.close()
    click.echo(f"edition {edition}: {report.planned} digest(s) queued in {report.batches} "
               f"batch(es); {report.without_articles} subscriber(s) without articles")
    if not report.run_id or not wait:
        return 0
    done = 0
    with click.progressbar(length=report.planned, label="sent") as bar:

        def progress(finished: int) -> None:
            nonlocal done
            bar.update(finished - done)
            done = finished

        counts = stores.ledger.wait_for_run(report.run_id, report.planned, timeout,
                                            on_progress=progress, poll=0.25)
    click.echo(f"run {report.run_id}: {summarise(counts)}")
    return 0 if done == report.planned else EXIT_FAILED
