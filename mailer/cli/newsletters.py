"""Commands about newsletters: what the site offers readers and how often."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from mailer.cli.base import pass_settings, use_stores
from mailer.config import Settings
from mailer.newsletters.model import WEEKDAYS, Newsletter, validate_newsletter

F = TypeVar("F", bound=Callable[..., Any])

_OPTIONS = (
    click.option("--name", help="What readers see, e.g. 'Politics as it happens'."),
    click.option("--cadence", type=click.Choice(["immediate", "daily", "weekly"]),
                 help="How often it goes out: as a story breaks, or each reader's hour."),
    click.option("--weekday", help="For a weekly one: Monday to Sunday."),
    click.option("--sections", help="Comma-separated sections it covers; 'all' for every "
                                    "section."),
    click.option("--sender-name", help="The From name; empty: the site's."),
    click.option("--position", type=int, help="Its place on the forms (0 first)."),
)


def _with_options(command: F) -> F:
    for option in reversed(_OPTIONS):
        command = option(command)
    return command


def _given(options: dict[str, object]) -> dict[str, object]:
    return {key: value for key, value in options.items() if value is not None}


def _line(newsletter: Newsletter, readers: int | None = None) -> str:
    sections = ",".join(newsletter.sections) or "all"
    weekday = WEEKDAYS[newsletter.weekday] if newsletter.weekday is not None else "-"
    shown = [newsletter.slug, newsletter.cadence.value, weekday, sections, newsletter.name]
    return "\t".join(shown + ([str(readers)] if readers is not None else []))


@click.group()
def newsletters() -> None:
    """Newsletters readers can choose: the daily digest and others."""


@newsletters.command("list", short_help="List them with their active readers.")
@pass_settings
def newsletters_list(settings: Settings) -> int:
    """List them in form order: slug, cadence, weekday, sections, name, active readers."""
    stores = use_stores(settings)
    readers = stores.subscribers.readers_by_newsletter()
    for newsletter in stores.newsletters.list():
        click.echo(_line(newsletter, readers.get(newsletter.slug, 0)))
    return 0


@newsletters.command("add", short_help="Offer a new newsletter.")
@click.argument("slug")
@_with_options
@pass_settings
def newsletters_add(settings: Settings, slug: str, **options: object) -> int:
    """Offer a new newsletter: SLUG (lower-case letters, digits, dashes) names it for
    good; --name and --cadence are required, --weekday too for a weekly one."""
    from mailer.services import make_catalog

    newsletter = validate_newsletter({"slug": slug, **_given(options)}, make_catalog(settings))
    use_stores(settings).newsletters.add(newsletter)
    click.echo(f"added {_line(newsletter)}")
    return 0


@newsletters.command("set", short_help="Change a newsletter.")
@click.argument("slug")
@_with_options
@pass_settings
def newsletters_set(settings: Settings, slug: str, **options: object) -> int:
    """Change what the options name; the rest stays."""
    from mailer.services import make_catalog

    store = use_stores(settings).newsletters
    newsletter = validate_newsletter(_given(options), make_catalog(settings),
                                     existing=store.get(slug))
    store.update(newsletter)
    click.echo(f"changed {_line(newsletter)}")
    return 0


@newsletters.command("remove", short_help="Stop offering a newsletter.")
@click.argument("slug")
@click.option("--yes", is_flag=True, help="Remove it even if readers chose it.")
@pass_settings
def newsletters_remove(settings: Settings, slug: str, yes: bool) -> int:
    """Stop offering a newsletter; readers' choices in it go with it (with --yes when
    there are any). The daily digest cannot be removed."""
    stores = use_stores(settings)
    readers = stores.subscribers.readers_by_newsletter().get(slug, 0)
    if readers and not yes:
        raise click.UsageError(f"{readers} reader(s) chose {slug!r}: add --yes to remove "
                               "it and their choices in it")
    gone = stores.newsletters.remove(slug)
    click.echo(f"removed {slug} and {gone} reader choice(s) in it")
    return 0
