"""A database or broker that is away, or a schema not yet migrated, is waited out: the
task is retried after a countdown, never acknowledged as done. Declared on each task
with `retried_when_away`, written here once."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Concatenate, ParamSpec, TypeVar

from celery import Task

from mailer.errors import ConfigError, ServiceUnavailable

OUTAGES = (ServiceUnavailable, ConfigError)

log = logging.getLogger("mailer.worker")

P = ParamSpec("P")
R = TypeVar("R")


def retried_when_away(countdown: int, about: Callable[P, str]
                      ) -> Callable[[Callable[Concatenate[Task, P], R]],
                                    Callable[Concatenate[Task, P], R]]:
    """`about` names the work in the warning, from the task's arguments."""
    def decorate(run: Callable[Concatenate[Task, P], R]) -> Callable[Concatenate[Task, P], R]:
        @wraps(run)
        def run_or_retry(task: Task, /, *args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return run(task, *args, **kwargs)
            except OUTAGES as exc:
                log.warning("%s: %s; retrying in %d s", about(*args, **kwargs), exc, countdown)
                raise task.retry(countdown=countdown) from None
        return run_or_retry
    return decorate
