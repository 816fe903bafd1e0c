"""What every command module shares: how settings reach a command, the exit codes, and
the services a command opens, each closed when the command ends."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from mailer.config import Settings

if TYPE_CHECKING:  # the command line starts without loading the services it may not use
    import redis

    from mailer.queue import JobQueue
    from mailer.stores import Stores

EXIT_FAILED = 1  # the command ran, but what it waited for failed
EXIT_INPUT = 2  # bad input or configuration: one line on stderr says which
EXIT_UNAVAILABLE = 3  # Redis, the broker or another service did not answer
EXIT_INTERRUPTED = 130  # Ctrl-C or SIGTERM

pass_settings = click.make_pass_decorator(Settings)


def use_stores(settings: Settings, *, seed: bool = False) -> Stores:
    """The database's stores for this command, closed when the command ends (click's
    context holds them); `seed` upserts the shipped articles first."""
    from mailer import services

    return click.get_current_context().with_resource(services.stores(settings, seed=seed))


def use_queue(settings: Settings) -> JobQueue:
    """The broker for this command, closed when the command ends."""
    from mailer import services

    return click.get_current_context().with_resource(services.job_queue(settings))


def use_redis(settings: Settings) -> redis.Redis:
    """Redis for this command, closed when the command ends."""
    from mailer import services

    return click.get_current_context().with_resource(services.redis_client(settings))
