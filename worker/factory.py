"""The Celery app: configuration only. Tasks live in worker.tasks, shared tasks every
app registers; the worker imports that module because the app includes it."""

from __future__ import annotations

from celery import Celery
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
    SHARE_QUEUE,
    SHARE_TASK,
    SWEEP_TASK,
)


def create_celery(settings: Settings) -> Celery:
    app = Celery("mailer", broker=settings.redis_url, include=["worker.tasks"],
                 set_as_current=False)
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
        task_queues=[Queue(SHARE_QUEUE), Queue(ALERT_QUEUE), Queue(DIGEST_QUEUE)],
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
        broker_transport_options={"visibility_timeout": 3600},
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
