"""Commands about articles: import and list."""

from __future__ import annotations

from pathlib import Path

import click

from mailer.articles.files import read_articles, read_seed_articles
from mailer.articles.stores import ArticleStore, MemoryArticleStore
from mailer.cli.base import pass_settings, use_stores
from mailer.cli.failure import one_line
from mailer.config import Settings
from mailer.errors import ConfigError, ServiceUnavailable


def article_store_for_reading(settings: Settings) -> ArticleStore:
    """The database's articles if it answers; the shipped seeds alone if it does not
    (or is not migrated yet), so a preview works before anything is set up."""

    try:
        return use_stores(settings, seed=True).articles
    except (ServiceUnavailable, ConfigError) as exc:
        click.echo(f"note: using the seed articles only ({one_line(str(exc))})", err=True)
        return MemoryArticleStore(read_seed_articles(settings.seeds_dir))


@click.group()
def articles() -> None:
    """Articles that can be shared."""


@articles.command("import", short_help='Import articles from JSON, JSON Lines or RSS/Atom.')
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--section", default=None, help="Section for feed entries without a category.")
@pass_settings
def articles_import(settings: Settings, path: Path, section: str | None) -> int:
    """Import articles from JSON, JSON Lines or an RSS/Atom feed (.xml, .rss, .atom).

    The same id again updates the article; it never makes a second one."""

    items = read_articles(path, section)
    count = use_stores(settings, seed=True).articles.put_many(items)
    click.echo(f"imported {count} article(s) from {path}")
    return 0


@articles.command("alert", short_help="Send ID to its section's readers as breaking news.")
@click.argument("article_id")
@pass_settings
def articles_alert(settings: Settings, article_id: str) -> int:
    """Send the story ARTICLE_ID (imported already) as breaking news to every reader
    who chose its section as it happens: at once where it is day, in the morning or
    in the digest (their choice) where it is night, never past the daily cap. Once a
    story: a second call says so and sends nothing."""
    from datetime import UTC, datetime

    from mailer.cli.base import use_queue
    from mailer.services import make_alert_planner

    planner = make_alert_planner(settings, use_stores(settings, seed=True), use_queue(settings))
    run, opened = planner.publish(article_id, datetime.now(UTC))
    if opened:
        click.echo(f"alert {run.id}: planning queued on the alerts lane "
                   "(`mailer alerts list` follows it)")
    else:
        click.echo(f"alert {run.id}: {article_id} was alerted before ({run.status.value}); "
                   "nothing sent again")
    return 0


@articles.command("list")
@pass_settings
def articles_list(settings: Settings) -> int:
    """List known articles, newest first."""
    for article in article_store_for_reading(settings).all():
        click.echo(f"{article.id}\t{article.section}\t{article.published.isoformat()}\t"
                   f"{article.title}")
    return 0
