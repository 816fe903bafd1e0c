"""The Celery side of mailer.queue.JobQueue: how producers hand jobs to the broker."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from celery import Celery
from celery.utils import uuid
from celery.utils.nodenames import anon_nodename
from kombu import Connection, Producer, Queue
from kombu.exceptions import KombuError, OperationalError
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
        # `_publish`'s: a producer per thread, the queues it declares by name (bound
        # to a channel only to be declared: kombu remembers which it has declared on
        # each connection), the name of this process as a message's origin.
        self._local = threading.local()
        self._producers: list[Producer] = []
        self._declared: dict[str, Queue] = {}
        self._origin = anon_nodename()

    def enqueue(self, task: str, payload: dict[str, Any], *, queue: str) -> None:
        try:
            self._send(task, payload, queue, retry=True,
                       retry_policy={"max_retries": 2, "interval_start": 0.2,
                                     "interval_step": 0.5})
        except (OperationalError, OSError) as exc:
            raise self._away(exc) from None

    def enqueue_many(self, jobs: Sequence[tuple[str, dict[str, Any]]], *, queue: str
                     ) -> list[ServiceUnavailable | None]:
        """Celery's own messages, published straight through kombu (`_publish`), and
        on Redis in one pipeline (kombu's publish batch). If that fails, each job is
        sent again on its own with `enqueue`'s retries (one the batch did deliver may
        then wait twice in the queue: the ledger's claim sends it once); once one of
        them is refused, so are the rest, without waiting out each one's retries."""
        try:
            self._publish(jobs, queue)
            return [None] * len(jobs)
        except (KombuError, OSError, RedisError):
            self._drop_producer()
        refused: list[ServiceUnavailable | None] = []
        away: ServiceUnavailable | None = None
        for task, payload in jobs:
            if away is None:
                try:
                    self.enqueue(task, payload, queue=queue)
                except ServiceUnavailable as exc:
                    away = exc
            refused.append(away)
        return refused

    def _publish(self, jobs: Sequence[tuple[str, dict[str, Any]]], queue: str) -> None:
        """The message `send_task` makes for a task with no parent, countdown, expiry
        or result (`app.amqp.create_task_message`), published as it would be (to the
        queue by the default exchange, the queue declared once per connection, as
        kombu caches it), by a producer the thread keeps: without `send_task`'s
        routing, option merging and result handle, a producer from the pool and a copy
        of the queue per publish, which cost a share request twice its message
        (bench/share_load.py). No retry here: `enqueue_many` falls back."""
        amqp, conf = self._app.amqp, self._app.conf
        producer = self._producer()
        declare = self._declared.get(queue)
        if declare is None:
            declare = self._declared.setdefault(queue, amqp.queues[queue].bind(producer.channel))
        batch = getattr(producer, "batch", None)  # kombu 5.7; before it, one by one
        with batch(max_size=len(jobs)) if batch and len(jobs) > 1 else contextlib.nullcontext():
            for task, payload in jobs:
                headers, properties, body, _ = amqp.create_task_message(
                    uuid(), task, (payload,), {}, reply_to=self._app.thread_oid,
                    origin=self._origin, ignore_result=None, argsrepr=summary(payload),
                    kwargsrepr="{}")
                headers["queued_at"] = time.time()
                producer.publish(body, exchange="", routing_key=queue,
                                 serializer=conf.task_serializer,
                                 compression=conf.task_compression, headers=headers,
                                 delivery_mode=conf.task_default_delivery_mode,
                                 declare=[declare], **properties)

    def _producer(self) -> Producer:
        producer: Producer | None = getattr(self._local, "producer", None)
        if producer is None:
            producer = self._local.producer = self._app.amqp.Producer(
                self._app.connection_for_write())
            with self._control:
                self._producers.append(producer)
        return producer

    def _drop_producer(self) -> None:
        """After a failure: the thread's next publish connects again."""
        producer: Producer | None = getattr(self._local, "producer", None)
        self._local.producer = None
        if producer is not None:
            with self._control:
                self._producers.remove(producer)
            _close(producer)

    def _send(self, task: str, payload: dict[str, Any], queue: str, **options: Any) -> None:
        # `queued_at` lets ops see the age of the oldest waiting job (mailer.ops.metrics).
        self._app.send_task(task, args=[payload], queue=queue,
                            headers={"queued_at": time.time()},
                            argsrepr=summary(payload), kwargsrepr="{}", **options)

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
        with self._control:
            producers, self._producers = self._producers, []
        for producer in producers:
            _close(producer)
        if self._own:
            self._app.close()


def _close(producer: Producer) -> None:
    with contextlib.suppress(Exception):  # closing what may already be broken
        producer.connection.close()
