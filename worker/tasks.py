"""Thin Celery tasks: unpack the JSON payload, call the library, map its outcome to
Celery's retry. No business logic here."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from celery import Celery, Task
from celery.signals import worker_process_shutdown

from mailer.config import Settings
from mailer.delivery.deliverer import Outcome
from mailer.delivery.resend import requeue_stale_messages
from mailer.digest.send import BatchOutcome as DigestBatch
from mailer.errors import ConfigError, ServiceUnavailable
from mailer.queue import (
    CONFIRM_TASK,
    DIGEST_BATCH_TASK,
    DIGEST_PLAN_TASK,
    DIGEST_QUEUE,
    EXPIRE_TASK,
    SHARE_TASK,
    SWEEP_TASK,
)
from mailer.services import WorkerServices, worker_services
from worker.producer import CeleryJobQueue

log = logging.getLogger("mailer.worker")


class ProcessLocal:
    """Builds database, SMTP and render objects once per worker process, after the
    fork, so each child has its own connections and caches."""

    def __init__(self, settings: Settings, app: Celery) -> None:
        self.settings = settings
        self.app = app
        self._pid = -1

    def _ensure(self) -> WorkerServices:
        if self._pid != os.getpid():
            # On the worker's own app: closing it is the worker's business, not ours.
            self._services = worker_services(self.settings,
                                                  CeleryJobQueue(self.settings, app=self.app))
            self._pid = os.getpid()
        return self._services

    def share(self, payload: dict[str, Any], attempt: int) -> Outcome:
        local = self._ensure()
        return local.share_mail.deliver(local.deliverer, payload, attempt)

    def confirm(self, payload: dict[str, Any], attempt: int) -> Outcome:
        local = self._ensure()
        return local.confirm_mail.deliver(local.deliverer, payload, attempt)

    def plan_digests(self, now: datetime, edition: date | None) -> str:
        planner = self._ensure().planner(self.settings)
        report = planner.plan(now, edition)
        stale = planner.requeue_stale(
            now, timedelta(seconds=self.settings.digest_requeue_seconds),
            timedelta(seconds=self.settings.retry_max_seconds))
        return (f"planned {report.planned} in {report.batches} batch(es), "
                f"{report.without_articles} without articles, {stale} stale re-queued")

    def send_digest_batch(self, ids: list[str], run_id: str | None) -> DigestBatch:
        return self._ensure().digest_sender.send_batch(ids, run_id)

    def shutdown(self) -> None:
        if self._pid == os.getpid():
            self._services.relays.shutdown()

    def requeue_lost(self) -> int:
        local = self._ensure()
        return requeue_stale_messages(
            ledger=local.stores.ledger, queue=local.queue,
            older_than=timedelta(seconds=self.settings.requeue_seconds),
            retry_max=timedelta(seconds=self.settings.retry_max_seconds))

    def expire(self) -> int:
        return self._ensure().stores.subscribers.expire_pending(
            timedelta(hours=self.settings.confirm_max_age_hours))


def run_delivery(task: Task, name: str, deliver: Callable[[dict[str, Any], int], Outcome],
                 payload: dict[str, Any]) -> str:
    """A database or broker that is away, or a schema not yet migrated, is waited out:
    the message is retried, never acknowledged as done."""
    attempt = task.request.retries + 1
    try:
        outcome = deliver(payload, attempt)
    except (ServiceUnavailable, ConfigError) as exc:
        log.warning("%s %s: %s; retrying in 5 s", name, payload.get("job_id"), exc)
        raise task.retry(countdown=5) from None
    log.info("%s %s attempt %d: %s %s", name, payload.get("job_id"), attempt, outcome.action,
             outcome.reply)
    if outcome.action == "retry":
        raise task.retry(countdown=outcome.delay)
    return outcome.action


def register_tasks(app: Celery, settings: Settings) -> None:
    local = ProcessLocal(settings, app)
    worker_process_shutdown.connect(lambda **_: local.shutdown(), weak=False)

    @app.task(name=SHARE_TASK, bind=True, max_retries=None)
    def deliver_share(self: Task, payload: dict[str, Any]) -> str:
        return run_delivery(self, "share", local.share, payload)

    @app.task(name=CONFIRM_TASK, bind=True, max_retries=None)
    def deliver_confirm(self: Task, payload: dict[str, Any]) -> str:
        return run_delivery(self, "confirm", local.confirm, payload)

    @app.task(name=DIGEST_PLAN_TASK, bind=True, max_retries=None)
    def plan_digests(self: Task, payload: dict[str, Any] | None = None) -> str:
        """Beat calls this with no payload: plan whatever is due now. A payload may name
        `now` (ISO time) or an `edition` (ISO date) to plan for every subscriber."""
        now, edition = (payload or {}).get("now"), (payload or {}).get("edition")
        when = datetime.fromisoformat(now) if now else datetime.now(UTC)
        try:
            summary = local.plan_digests(when, date.fromisoformat(edition) if edition else None)
        except (ServiceUnavailable, ConfigError) as exc:
            log.warning("digest planning: %s; retrying in 30 s", exc)
            raise self.retry(countdown=30) from None
        log.info("digest planning at %s: %s", when.isoformat(), summary)
        return summary

    @app.task(name=DIGEST_BATCH_TASK, bind=True, max_retries=None)
    def send_digest_batch(self: Task, payload: dict[str, Any]) -> str:
        ids = [str(i) for i in payload.get("ids", [])]
        run_id = payload.get("run_id") or None
        try:
            outcome = local.send_digest_batch(ids, run_id)
        except (ServiceUnavailable, ConfigError) as exc:
            log.warning("digest batch of %d: %s; retrying in 10 s", len(ids), exc)
            raise self.retry(countdown=10) from None
        log.info("digest batch %s of %d: %d sent, %d failed, %d skipped, %d deferred, "
                 "%d waiting for a send slot%s", run_id, len(ids), outcome.sent,
                 outcome.failed, outcome.skipped, len(outcome.deferred),
                 len(outcome.throttled), f"; {outcome.halted}" if outcome.halted else "")
        if outcome.throttled:
            # Handed back, not slept on: the worker is free for the share queue, and
            # the batch comes back when the limit has room. Queued before this task
            # is acknowledged, so a crash in between loses nothing.
            self.apply_async(args=[{**payload, "ids": outcome.throttled}],
                             countdown=outcome.throttle_wait, queue=DIGEST_QUEUE)
        if outcome.deferred:
            raise self.retry(args=[{**payload, "ids": outcome.deferred}],
                             countdown=outcome.retry_in)
        return outcome.halted or "done"

    @app.task(name=SWEEP_TASK, bind=True, max_retries=None)
    def requeue_lost(self: Task) -> int:
        try:
            count = local.requeue_lost()
        except (ServiceUnavailable, ConfigError) as exc:
            log.warning("requeue of lost messages: %s; next sweep will try again", exc)
            return 0
        if count:
            log.warning("re-queued %d message(s) whose task was lost", count)
        return count

    @app.task(name=EXPIRE_TASK)
    def expire_pending() -> int:
        count = local.expire()
        log.info("expired %d unconfirmed sign-up(s)", count)
        return count
