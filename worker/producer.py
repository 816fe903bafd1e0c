"""The Celery side of mailer.queue.JobQueue: how producers hand jobs to the broker."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from celery import Celery
from kombu import Connection
from kombu.exceptions import OperationalError
from redis import RedisError

from mailer.config import Settings
from mailer.errors import ServiceUnavailable
from mailer.queue import Backlog
from worker.factory import create_celery


def summary(payload: dict[str, Any]) -> str:
    """What task events and Flower show of a job: its ids, not the readers' addresses
    and names (and Celery's own repr of the payload cost a quarter of a publish)."""
    shown: dict[str, Any] = {key: payload[key] for key in ("job_id", "run_id") if key in payload}
    if "ids" in payload:
        shown["messages"] = len(payload["ids"])
    return repr([shown])


def oldest_age(client: Any, queue: str, now: float | None = None) -> float:
    """Seconds the oldest waiting job of a queue in a Redis broker has waited (0 when
    none): kombu pushes on the left and takes from the right, so the oldest is at index
    -1; the producer stamps `queued_at` in its headers."""
    raw = client.lindex(queue, -1)
    if not raw:
        return 0.0
    try:
        queued_at = float(json.loads(raw)["headers"]["queued_at"])
    except (ValueError, KeyError, TypeError):
        return 0.0
    return max(0.0, (now or time.time()) - queued_at)


def _backlog(conn: Connection, queues: Sequence[str]) -> list[Backlog]:
    """A passive declare per queue gives its message count on either broker (kombu's
    Redis transport answers it with LLEN). The oldest job's age is read on Redis only:
    RabbitMQ cannot show a message without taking it, so there it stays unknown. A
    queue never declared has nothing waiting."""
    found = []
    now = time.time()
    for name in queues:
        with conn.channel() as channel:
            try:
                waiting = int(channel.queue_declare(queue=name, passive=True).message_count)
            except conn.channel_errors:
                waiting = 0
            oldest = None
            if conn.transport.driver_type == "redis":
                with channel.conn_or_acquire() as client:
                    oldest = oldest_age(client, name, now)
        found.append(Backlog(name, waiting, oldest))
    return found


class CeleryJobQueue:
    def __init__(self, settings: Settings, app: Celery | None = None) -> None:
        """`app`: a worker passes its own, so producing from a task opens nothing new."""
        self._own = app is None
        self._app = app or create_celery(settings)
        self._broker = settings.broker_name
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
            raise self._away(exc) from None

    def workers(self, timeout: float) -> list[str]:
        try:
            with self._control:
                replies = self._app.control.ping(timeout=timeout) or []
        except (OperationalError, OSError) as exc:
            raise self._away(exc) from None
        return sorted(name for reply in replies for name in reply)

    def worker_queues(self, timeout: float) -> dict[str, list[str]]:
        return self.survey(timeout)[0]

    def reserved(self, timeout: float) -> dict[str, int]:
        return self.survey(timeout)[1]

    def survey(self, timeout: float) -> tuple[dict[str, list[str]], dict[str, int]]:
        """Each answering worker's queues, and the jobs workers hold per queue: three
        broadcasts asked at once, each ending when every worker bound to the broadcast
        exchange answered (on Redis) or at `timeout` (a worker killed without unbinding,
        RabbitMQ): `mailer status` took 3 s of timeouts one after another."""
        expected = self._expected_workers()
        if expected == 0:
            return {}, {}
        methods = ("active_queues", "reserved", "active")
        try:
            with ThreadPoolExecutor(len(methods)) as pool:
                queues, *held = pool.map(lambda m: self._ask(m, timeout, expected), methods)
        except (OperationalError, OSError) as exc:
            raise self._away(exc) from None
        counts: dict[str, int] = {}
        for answer in held:
            for tasks in answer.values():
                for task in tasks:
                    queue = (task.get("delivery_info") or {}).get("routing_key") or "?"
                    counts[queue] = counts.get(queue, 0) + 1
        return ({name: sorted(q["name"] for q in found) for name, found in queues.items()},
                counts)

    def _ask(self, method: str, timeout: float, expected: int | None) -> dict[str, Any]:
        """One broadcast on a connection of its own (a shared one is not thread-safe)."""
        with self._app.connection_for_write() as conn:
            inspect = self._app.control.inspect(timeout=timeout, limit=expected,
                                                connection=conn)
            return getattr(inspect, method)() or {}

    def _expected_workers(self) -> int | None:
        """How many workers will answer a broadcast: on Redis, the pidbox queues bound to
        its exchange (a worker unbinds its own on a clean shutdown), 0 when none is, so
        nobody is waited for. None (wait for the whole timeout) on RabbitMQ, or when
        Redis cannot say."""
        if self._broker != "Redis":
            return None
        key = f"_kombu.binding.{self._app.control.mailbox.namespace}.pidbox"
        try:
            with self._app.pool.acquire(block=True, timeout=5) as conn, \
                    conn.channel() as channel, channel.conn_or_acquire() as client:
                return int(client.scard(key))
        except (OperationalError, OSError, RedisError):
            return None

    def backlog(self, queues: Sequence[str]) -> list[Backlog]:
        try:
            with self._app.pool.acquire(block=True, timeout=5) as conn:
                try:
                    conn.ensure_connection(max_retries=1, interval_start=0, timeout=5)
                    return _backlog(conn, queues)
                except conn.connection_errors as exc:  # redis-py's or py-amqp's own
                    raise self._away(exc) from None
        except (OperationalError, OSError) as exc:
            raise self._away(exc) from None

    def _away(self, exc: BaseException) -> ServiceUnavailable:
        return ServiceUnavailable(f"the queue's broker ({self._broker}) is not answering: "
                                  f"{exc}")

    def close(self) -> None:
        if self._own:
            self._app.close()
