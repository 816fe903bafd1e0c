"""The `mailer` command. Errors are mapped to exit codes in one place, `main`."""

from __future__ import annotations

import sys

import click

from mailer.cli import deliveries, digest, dkim, mail, stack, status, subscribers
from mailer.cli.base import EXIT_FAILED, EXIT_INPUT, EXIT_INTERRUPTED, EXIT_UNAVAILABLE
from mailer.config import load_settings
from mailer.errors import ConfigError, InvalidInput, MailerError, NotFound, ServiceUnavailable


def exit_code(exc: MailerError) -> int:
    if isinstance(exc, InvalidInput | NotFound | ConfigError):
        return EXIT_INPUT
    if isinstance(exc, ServiceUnavailable):
        return EXIT_UNAVAILABLE
    return EXIT_FAILED


def main(argv: list[str] | None = None) -> None:
    try:
        code = cli.main(args=argv, prog_name="mailer", standalone_mode=False)
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except click.ClickException as exc:
        exc.show()
        code = exc.exit_code
    except (click.Abort, KeyboardInterrupt):
        click.echo("interrupted", err=True)
        code = EXIT_INTERRUPTED
    except MailerError as exc:
        click.echo(f"error: {exc}", err=True)
        code = exit_code(exc)
    sys.exit(code if isinstance(code, int) else 0)


@click.group()
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Share-to-friend and digest e-mail for news sites."""
    ctx.obj = load_settings()


for command in (mail.share, mail.job, mail.preview, mail.articles, subscribers.db,
                subscribers.subscribers, digest.digest, deliveries.deliveries,
                deliveries.suppressions, dkim.dkim, status.status, stack.serve, stack.sink,
                stack.stack, stack.demo):
    cli.add_command(command)
