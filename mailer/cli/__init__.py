"""The `mailer` command. Errors are mapped to exit codes in one place, `main`."""

from __future__ import annotations

import sys

import click

from mailer import version
from mailer.cli.base import EXIT_INTERRUPTED
from mailer.cli.failure import exit_code, failure_of, leaf_command
from mailer.cli.lazy import LazyGroup
from mailer.config import Settings, load_settings
from mailer.errors import MailerError

__all__ = ["cli", "exit_code", "main"]


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    try:
        code = cli.main(args=args, prog_name="mailer", standalone_mode=False)
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except click.ClickException as exc:
        exc.show()
        code = exc.exit_code
    except (click.Abort, KeyboardInterrupt):
        click.echo("interrupted", err=True)
        code = EXIT_INTERRUPTED
    except Exception as exc:  # the one place a command's failure is told
        failure = failure_of(exc, leaf_command(cli, args), _settings_or_none())
        if failure is None:
            raise
        failure.report(as_json="--json" in args)
        code = failure.code
    sys.exit(code if isinstance(code, int) else 0)


def _settings_or_none() -> Settings | None:
    try:
        return load_settings()
    except MailerError:
        return None


# Each command's module is imported when that command runs (mailer/cli/lazy.py).
_COMMANDS = {
    "share": "mail:share", "job": "mail:job", "preview": "mail:preview",
    "articles": "articles:articles", "bounces": "bounces:bounces", "db": "db:db",
    "subscribers": "subscribers:subscribers", "newsletters": "newsletters:newsletters",
    "digest": "digest:digest", "deliveries": "deliveries:deliveries",
    "suppressions": "deliveries:suppressions", "dkim": "dkim:dkim", "status": "status:status",
    "serve": "stack:serve", "sink": "stack:sink", "stack": "stack:stack", "demo": "stack:demo",
    "inbound": "inbound:inbound", "alerts": "alerts:alerts",
}


@click.group(cls=LazyGroup,
             lazy={name: f"mailer.cli.{target}" for name, target in _COMMANDS.items()},
             context_settings={"show_default": True, "max_content_width": 100,
                                "help_option_names": ["-h", "--help"]})
@click.version_option(version(), "--version", prog_name="mailer",
                      message="%(prog)s %(version)s")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Share-to-friend and digest e-mail for news sites."""
    ctx.obj = load_settings()

