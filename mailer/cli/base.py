"""What every command module shares: how settings reach a command, the exit codes."""

from __future__ import annotations

import click

from mailer.config import Settings

EXIT_FAILED = 1  # the command ran, but what it waited for failed
EXIT_INPUT = 2  # bad input or configuration: one line on stderr says which
EXIT_UNAVAILABLE = 3  # Redis, the broker or another service did not answer
EXIT_INTERRUPTED = 130  # Ctrl-C or SIGTERM

pass_settings = click.make_pass_decorator(Settings)
