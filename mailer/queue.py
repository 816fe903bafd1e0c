"""The producer's view of the queue: a name, a JSON payload, a queue name.

The library does not import Celery; the backend is named in settings
(`MAILER_QUEUE_BACKEND`, default `worker.producer:CeleryJobQueue`) and loaded by the
entry points, as Django loads its e-mail backend.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from mailer.config import Settings
from mailer.errors import ConfigError, ServiceUnavailable

SHARE_TASK = "mailer.share.deliver"
CONFIRM_TASK = "mailer.confirm.deliver"
EXPIRE_TASK = "mailer.subscribers.expire"
SWEEP_TASK = "mailer.deliveries.requeue_stale"
DIGEST_PLAN_TASK = "mailer.digest.plan"
DIGEST_BATCH_TASK = "mailer.digest.send_batch"  # digest and alert batches alike
ALERT_PLAN_TASK = "mailer.alerts.plan"
ALERT_SWEEP_TASK = "mailer.alerts.sweep"
# The queue for transactional mail: shares and confirmation e-mails, which a reader is
# waiting for and which must never wait behind a digest.
SHARE_QUEUE = "share"
# Breaking-news alerts (their planning and their batches): after transactional mail,
# before any digest.
ALERT_QUEUE = "alerts"
# Bulk mail: digest and weekly batches and their planning.
DIGEST_QUEUE = "digest"
# The lanes, most urgent first: a worker consuming several takes from the first that
# has work (worker/factory.py, docs/architecture.md "Lanes").
LANES: tuple[str, ...] = (SHARE_QUEUE, ALERT_QUEUE, DIGEST_QUEUE)


@dataclass(frozen=True)
class Backlog:
    """What waits in one queue of the broker. `oldest_seconds` is None where the broker
    cannot tell without taking the message (RabbitMQ): unknown, not zero."""
    queue: str
    waiting: int
    oldest_seconds: float | None


class JobQueue(Protocol):
    def enqueue(self, task: str, payload: dict[str, Any], *, queue: str) -> None:
        """Hand a job to the broker; raise ServiceUnavailable if it cannot be taken."""
        ...

    def enqueue_many(self, jobs: Sequence[tuple[str, dict[str, Any]]], *, queue: str
                     ) -> list[ServiceUnavailable | None]:
        """Hand several (task, payload) jobs to the broker together, in one round trip
        where it allows; for each, None once it is taken, or the ServiceUnavailable
        saying why not."""
        ...

    def workers(self, timeout: float) -> list[str]:
        """The names of the workers that answered a ping within `timeout`; [] if none
        (ServiceUnavailable if the broker itself does not answer)."""
        ...

    def worker_queues(self, timeout: float) -> dict[str, list[str]]:
        """Each answering worker and the queues it consumes."""
        ...

    def reserved(self, timeout: float) -> dict[str, int]:
        """Jobs taken from each queue by workers and not yet finished."""
        ...

    def survey(self, timeout: float) -> tuple[dict[str, list[str]], dict[str, int]]:
        """worker_queues and reserved together, asked at once: within `timeout`."""
        ...

    def backlog(self, queues: Sequence[str]) -> list[Backlog]:
        """Each queue's waiting jobs, asked of the broker; ServiceUnavailable (naming
        the broker) when it does not answer."""
        ...

    def close(self) -> None: ...


def load_job_queue(settings: Settings) -> JobQueue:
    module_name, _, attr = settings.queue_backend.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"MAILER_QUEUE_BACKEND: cannot load {settings.queue_backend!r}: {exc}") \
            from None
    return factory(settings)
