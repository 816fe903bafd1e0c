"""The services a worker process sends with, reached through the Celery app a task
runs on: built on a process's first task, after the fork, so each child has its own
connections and caches."""

from __future__ import annotations

import os
from dataclasses import dataclass

from celery import Celery

from mailer.config import Settings
from mailer.services import WorkerServices, worker_services
from worker.producer import CeleryJobQueue

KEY = "mailer_process_services"


@dataclass(frozen=True)
class ProcessServices:
    """The services and the process that built them: a child forked after they were
    built inherits them, and must not share its parent's sockets."""

    pid: int
    services: WorkerServices


def settings_of(app: Celery) -> Settings:
    settings: Settings = app.conf.mailer_settings
    return settings


def services_for(app: Celery) -> WorkerServices:
    """Raises ServiceUnavailable or ConfigError while the database or broker is away or
    behind the code; nothing is kept then, so the next task tries again."""
    built: ProcessServices | None = app.conf.get(KEY)
    if built is None or built.pid != os.getpid():
        settings = settings_of(app)
        # On the worker's own app: closing it is the worker's business, not ours.
        services = worker_services(settings, CeleryJobQueue(settings, app=app))
        built = ProcessServices(os.getpid(), services)
        app.conf[KEY] = built
    return built.services


def shut_down_services(app: Celery) -> None:
    """At process exit: the relay pool says QUIT to its relays, and the stores and
    Redis are closed."""
    built: ProcessServices | None = app.conf.get(KEY)
    if built is not None and built.pid == os.getpid():
        built.services.close()
