"""The Celery side of mailer.queue.JobQueue: how producers hand jobs to the broker."""

from __future__ import annotations

from typing import Any

from kombu.exceptions import OperationalError

from mailer.config import Settings
from mailer.errors import ServiceUnavailable


class CeleryJobQueue:
    def __init__(self, settings: Settings) -> None:
        from worker.factory import create_celery

        self._app = create_celery(settings)

    def enqueue(self, task: str, payload: dict[str, Any], *, queue: str) -> None:
        try:
            self._app.send_task(task, args=[payload], queue=queue,
                                retry=True, retry_policy={"max_retries": 2, "interval_start": 0.2,
                                                          "interval_step": 0.5})
        except (OperationalError, OSError) as exc:
            raise ServiceUnavailable(f"queue unavailable: {exc}") from None

    def close(self) -> None:
        self._app.close()
