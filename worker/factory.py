"""The Celery app: configuration only. Tasks live in worker.tasks, shared tasks every
app registers; the worker imports that module because the app includes it.

Lanes: a worker consuming several queues takes from the most urgent one that has work
(mailer.queue.LANES: share, alerts, digest). On Redis that is kombu's `priority`
queue order (BRPOP on the lanes in that order, rather than its default round robin);
the order is the lanes' whatever order `-Q` names them in. RabbitMQ has no order between
the queues one consumer takes, so there the guarantee comes from dedicated workers per
lane (deploy/systemd; docs/architecture.md, "Lanes")."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from celery import Celery
from celery.app.amqp import AMQP, Queues
from kombu import Queue

from mailer.config import Settings
from mailer.queue import (
    ALERT_PLAN_TASK,
    ALERT_QUEUE,
    ALERT_SWEEP_TASK,
    CONFIRM_TASK,
    DIGEST_BATCH_TASK,
    DIGEST_PLAN_TASK,
    DIGEST_QUEUE,
    EXPIRE_TASK,
    LANES,
    SHARE_QUEUE,
    SHARE_TASK,
    SWEEP_TASK,
)


class LaneQueues(Queues):
    def select(self, include: Sequence[str] | str | None) -> None:
        """`-Q digest,share` consumes share first all the same: the lanes' order, then
        any other queue in the order given."""
        names = [include] if isinstance(include, str) else list(include or [])
        names = [n for part in names for n in part.split(",") if n]
        rank = {name: i for i, name in enumerate(LANES)}
        super().select(sorted(names, key=lambda n: rank.get(n, len(LANES))) or None)


class LaneAMQP(AMQP):
    queues_cls = LaneQueues


def transport_options(settings: Settings) -> dict[str, Any]:
    if settings.broker_name == "RabbitMQ":
        return {}
    # Redis: a job taken and not acknowledged within the hour goes back to its queue
    # (RabbitMQ knows when a worker's connection dies; Redis needs the timeout).
    # A Redis that hangs (stopped, a dead NAT entry) would block a publish or
    # `mailer status` for ever without a socket timeout; above BRPOP's 1 s wait.
    return {"visibility_timeout": 3600, "queue_order_strategy": "priority",
            "socket_timeout": 5, "socket_connect_timeout": 5}


def create_celery(settings: Settings) -> Celery:
    app = Celery("mailer", broker=settings.broker, include=["worker.tasks"],
                 set_as_current=False, amqp=LaneAMQP)
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        task_ignore_result=True,
        # Acked after the task returns, so a worker that dies mid-send leaves the job to
        # be redelivered; the job ledger's claim stops a redelivered job sending twice.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_queues=[Queue(name) for name in LANES],
        task_default_queue=SHARE_QUEUE,
        task_routes={
            **{name: {"queue": SHARE_QUEUE} for name in (SHARE_TASK, CONFIRM_TASK, EXPIRE_TASK,
                                                          SWEEP_TASK)},
            **{name: {"queue": DIGEST_QUEUE} for name in (DIGEST_PLAN_TASK, DIGEST_BATCH_TASK)},
            **{name: {"queue": ALERT_QUEUE} for name in (ALERT_PLAN_TASK, ALERT_SWEEP_TASK)},
        },
        # `celery -A worker beat` runs these. Planning is idempotent, so a second beat
        # process by mistake costs a query, not a second digest.
        beat_schedule={
            "expire-unconfirmed-sign-ups": {"task": EXPIRE_TASK, "schedule": 3600.0},
            "plan-digests": {"task": DIGEST_PLAN_TASK,
                             "schedule": settings.digest_plan_minutes * 60.0},
            "requeue-lost-messages": {"task": SWEEP_TASK, "schedule": settings.sweep_seconds},
            "plan-alerts-after-quiet-hours": {"task": ALERT_SWEEP_TASK, "schedule": 60.0},
        },
        broker_connection_retry_on_startup=True,
        broker_transport_options=transport_options(settings),
        broker_connection_timeout=5,
        worker_hijack_root_logger=False,
        # No task events unless asked for: three more publishes per task cost a share
        # worker a sixth of its time. Flower turns them on when it starts (as does
        # `celery -A worker control enable_events`); the queue's depth, age and
        # outcomes are in mailer.ops.metrics either way.
        worker_send_task_events=False,
        task_send_sent_event=False,
        timezone=settings.timezone,
        enable_utc=True,
    )
    app.conf.mailer_settings = settings
    return app
