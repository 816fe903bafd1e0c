"""The Celery side of mailer.queue.JobQueue: how producers hand jobs to the broker."""

from __future__ import annotations

import threading
import time
from typing import Any

from celery import Celery
from kombu.exceptions import OperationalError

from mailer.config import Settings
from mailer.errors import ServiceUnavailable
from worker.factory import create_celery


def summary(payload: dict[str, Any]) -> str:
    """What task events and Flower show of a job: its ids, not the readers' addresses
    and names (and Celery's own repr of the payload cost a quarter of a publish)."""
    shown: dict[str, Any] = {key: payload[key] for key in ("job_id", "run_id") if key in payload}
    if "ids" in payload:
        shown["messages"] = len(payload["ids"])
    return repr([shown])


class CeleryJobQueue:
    def __init__(self, settings: Settings, app: Celery | None = None) -> None:
        """`app`: a worker passes its own, so producing from a task opens nothing new."""
        self._own = app is None
        self._app = app or create_celery(settings)
        # Remote control shares one broker connection, which is not thread-safe; the
        # API asks from its thread pool (the ops page, /readyz).
        self._control = threading.Lock()

    def enqueue(self, task: str, payload: dict[str, Any], *, queue: str) -> None:
        try:
            # `queued_at` lets ops see the age of the oldest waiting job (mailer.ops.metrics).
            self._app.send_task(task, args=[payload], queue=queue,
                                headers={"queued_at": time.time()},
                                argsrepr=summary(payload), kwargsrepr="{}",
                                retry=True, retry_policy={"max_retries": 2, "interval_start": 0.2,
                                                          "interval_step": 0.5})
        except (OperationalError, OSError) as exc:
            raise ServiceUnavailable(f"the queue (Redis) is not answering: {exc}") from None

    def workers(self, timeout: float) -> list[str]:
        try:
            with self._control:
                replies = self._app.control.ping(timeout=timeout) or []
        except (OperationalError, OSError) as exc:
            raise ServiceUnavailable(f"the queue (Redis) is not answering: {exc}") from None
        return sorted(name for reply in replies for name in reply)

    def worker_queues(self, timeout: float) -> dict[str, list[str]]:
        try:
            with self._control:
                found = self._app.control.inspect(timeout=timeout).active_queues() or {}
        except (OperationalError, OSError) as exc:
            raise ServiceUnavailable(f"the queue (Redis) is not answering: {exc}") from None
        return {name: sorted(q["name"] for q in queues) for name, queues in found.items()}

    def reserved(self, timeout: float) -> dict[str, int]:
        inspect = self._app.control.inspect(timeout=timeout)
        counts: dict[str, int] = {}
        try:
            with self._control:
                answers = (inspect.reserved() or {}, inspect.active() or {})
            for answer in answers:
                for tasks in answer.values():
                    for task in tasks:
                        queue = (task.get("delivery_info") or {}).get("routing_key") or "?"
                        counts[queue] = counts.get(queue, 0) + 1
        except (OperationalError, OSError) as exc:
            raise ServiceUnavailable(f"the queue (Redis) is not answering: {exc}") from None
        return counts

    def close(self) -> None:
        if self._own:
            self._app.close()
