"""Thin Celery tasks: unpack the JSON payload, call the library, map its outcome to
Celery's retry. No business logic here.

Shared tasks, so every app registers them when it is finalized: the worker's
(`worker.celery`, which includes this module), and any a test or tool builds with
`create_celery`. Their names are mailer.queue's, the wire contract with producers.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from celery import Task, shared_task

from mailer.delivery.deliverer import Outcome
from mailer.delivery.resend import requeue_stale_messages
from mailer.queue import (
    ALERT_PLAN_TASK,
    ALERT_SWEEP_TASK,
    CONFIRM_TASK,
    DIGEST_BATCH_TASK,
    DIGEST_PLAN_TASK,
    DIGEST_QUEUE,
    EXPIRE_TASK,
    SHARE_TASK,
    SWEEP_TASK,
)
from worker.outages import OUTAGES, retried_when_away
from worker.process_services import services_for, settings_of

log = logging.getLogger("mailer.worker")


def act_on_outcome(task: Task, name: str, payload: dict[str, Any], attempt: int,
                   outcome: Outcome) -> str:
    """A message the relay deferred comes back after the delay its outcome names."""
    log.info("%s %s attempt %d: %s %s", name, payload.get("job_id"), attempt, outcome.action,
             outcome.reply)
    if outcome.action == "retry":
        raise task.retry(countdown=outcome.delay)
    return outcome.action


@shared_task(name=SHARE_TASK, bind=True, max_retries=None)
@retried_when_away(5, lambda payload: f"share {payload.get('job_id')}")
def deliver_share(self: Task, payload: dict[str, Any]) -> str:
    return deliver_transactional(self, "share", payload)


@shared_task(name=CONFIRM_TASK, bind=True, max_retries=None)
@retried_when_away(5, lambda payload: f"confirm {payload.get('job_id')}")
def deliver_confirm(self: Task, payload: dict[str, Any]) -> str:
    return deliver_transactional(self, "confirm", payload)


def deliver_transactional(task: Task, kind: Literal["share", "confirm"],
                          payload: dict[str, Any]) -> str:
    services = services_for(task.app)
    mail = services.share_mail if kind == "share" else services.confirm_mail
    attempt = task.request.retries + 1
    outcome = mail.deliver(services.deliverer, payload, attempt)
    return act_on_outcome(task, kind, payload, attempt, outcome)


@shared_task(name=DIGEST_PLAN_TASK, bind=True, max_retries=None)
@retried_when_away(30, lambda payload=None: "digest planning")
def plan_digests(self: Task, payload: dict[str, Any] | None = None) -> str:
    """Beat calls this with no payload: plan whatever is due now. A payload may name
    `now` (ISO time) or an `edition` (ISO date) to plan for every subscriber."""
    now, edition = (payload or {}).get("now"), (payload or {}).get("edition")
    when = datetime.fromisoformat(now) if now else datetime.now(UTC)
    settings = settings_of(self.app)
    planner = services_for(self.app).planner(settings)
    report = planner.plan(when, date.fromisoformat(edition) if edition else None)
    stale = planner.requeue_stale(when, timedelta(seconds=settings.digest_requeue_seconds),
                                  timedelta(seconds=settings.retry_max_seconds))
    summary = (f"planned {report.planned} in {report.batches} batch(es), "
               f"{report.without_articles} without articles, {stale} stale re-queued")
    log.info("digest planning at %s: %s", when.isoformat(), summary)
    return summary


@shared_task(name=DIGEST_BATCH_TASK, bind=True, max_retries=None)
@retried_when_away(10, lambda payload: f"digest batch of {len(payload.get('ids', []))}")
def send_digest_batch(self: Task, payload: dict[str, Any]) -> str:
    ids = [str(i) for i in payload.get("ids", [])]
    run_id = payload.get("run_id") or None
    outcome = services_for(self.app).digest_sender.send_batch(ids, run_id)
    log.info("digest batch %s of %d: %d sent, %d failed, %d skipped, %d deferred, "
             "%d waiting for a send slot%s", run_id, len(ids), outcome.sent,
             outcome.failed, outcome.skipped, len(outcome.deferred),
             len(outcome.throttled), f"; {outcome.halted}" if outcome.halted else "")
    if outcome.throttled:
        # Handed back, not slept on: the worker is free for the share queue, and
        # the batch comes back when the limit has room. Queued before this task
        # is acknowledged, so a crash in between loses nothing.
        self.apply_async(args=[{**payload, "ids": outcome.throttled}],
                         countdown=outcome.throttle_wait,
                         queue=payload.get("lane") or DIGEST_QUEUE)
    if outcome.deferred:
        raise self.retry(args=[{**payload, "ids": outcome.deferred}],
                         countdown=outcome.retry_in)
    return outcome.halted or "done"


@shared_task(name=ALERT_PLAN_TASK, bind=True, max_retries=None)
@retried_when_away(5, lambda payload: f"alert {payload.get('run_id')}")
def plan_alert(self: Task, payload: dict[str, Any]) -> int:
    """An alert just published: its readers for whom it is day, now."""
    planned = services_for(self.app).alert_planner(settings_of(self.app)).plan(
        str(payload.get("run_id") or ""), datetime.now(UTC))
    log.info("alert %s: planned %d", payload.get("run_id"), planned)
    return planned


@shared_task(name=ALERT_SWEEP_TASK, bind=True, max_retries=None)
def sweep_alerts(self: Task) -> int:
    """Beat, every minute: readers whose night has ended since an alert broke, and any
    alert whose planning was lost. Not retried: the next sweep is as good."""
    try:
        planned = services_for(self.app).alert_planner(settings_of(self.app)).sweep(
            datetime.now(UTC))
    except OUTAGES as exc:
        log.warning("alert sweep: %s; the next one will try again", exc)
        return 0
    if planned:
        log.info("alert sweep: planned %d", planned)
    return planned


@shared_task(name=SWEEP_TASK, bind=True, max_retries=None)
def requeue_lost(self: Task) -> int:
    """Not retried when the database or broker is away: the next sweep is as good."""
    settings = settings_of(self.app)
    try:
        services = services_for(self.app)
        count = requeue_stale_messages(
            ledger=services.stores.ledger, queue=services.queue,
            older_than=timedelta(seconds=settings.requeue_seconds),
            retry_max=timedelta(seconds=settings.retry_max_seconds))
    except OUTAGES as exc:
        log.warning("requeue of lost messages: %s; next sweep will try again", exc)
        return 0
    if count:
        log.warning("re-queued %d message(s) whose task was lost", count)
    return count


@shared_task(name=EXPIRE_TASK, bind=True)
def expire_pending(self: Task) -> int:
    settings = settings_of(self.app)
    count = services_for(self.app).stores.subscribers.expire_pending(
        timedelta(hours=settings.confirm_max_age_hours))
    log.info("expired %d unconfirmed sign-up(s)", count)
    return count
