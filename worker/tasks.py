"""Thin Celery tasks: unpack the JSON payload, call the library, map its outcome to
Celery's retry. No business logic here."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from celery import Celery, Task

from mailer.config import Settings
from mailer.delivery import Deliverer, Outcome, RetryPolicy
from mailer.errors import ServiceUnavailable
from mailer.queue import CONFIRM_TASK, EXPIRE_TASK, SHARE_TASK
from mailer.services import (
    Stores,
    make_catalog,
    make_renderer,
    make_smtp_backend,
    make_template_mail,
    make_tokens,
    open_stores,
)
from mailer.share import ShareMail
from mailer.subscribe import ConfirmMail

log = logging.getLogger("mailer.worker")


class ProcessLocal:
    """Builds database, SMTP and render objects once per worker process, after the
    fork, so each child has its own connections and caches."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._pid = -1

    def _ensure(self) -> None:
        if self._pid == os.getpid():
            return
        s = self.settings
        self.stores: Stores = open_stores(s)
        self.deliverer = Deliverer(
            ledger=self.stores.ledger, backend=make_smtp_backend(s),
            retry=RetryPolicy(s.share_max_attempts, s.retry_base_seconds, s.retry_max_seconds),
            lease_seconds=s.send_lease_seconds)
        self.share_mail = ShareMail(articles=self.stores.articles, renderer=make_renderer(s),
                                    site_name=s.site_name, from_email=s.from_email,
                                    domain=s.site_domain)
        self.confirm_mail = ConfirmMail(
            store=self.stores.subscribers, tokens=make_tokens(s), mail=make_template_mail(s),
            catalog=make_catalog(s), public_url=s.public_url, site_name=s.site_name,
            from_email=s.from_email, domain=s.site_domain,
            confirm_hours=s.confirm_max_age_hours)
        self._pid = os.getpid()

    def share(self, payload: dict[str, Any], attempt: int) -> Outcome:
        self._ensure()
        return self.share_mail.deliver(self.deliverer, payload, attempt)

    def confirm(self, payload: dict[str, Any], attempt: int) -> Outcome:
        self._ensure()
        return self.confirm_mail.deliver(self.deliverer, payload, attempt)

    def expire(self) -> int:
        self._ensure()
        return self.stores.subscribers.expire_pending(
            timedelta(hours=self.settings.confirm_max_age_hours))


def run_delivery(task: Task, name: str, deliver: Callable[[dict[str, Any], int], Outcome],
                 payload: dict[str, Any]) -> str:
    attempt = task.request.retries + 1
    try:
        outcome = deliver(payload, attempt)
    except ServiceUnavailable as exc:
        log.warning("%s %s: %s; retrying in 5 s", name, payload.get("job_id"), exc)
        raise task.retry(countdown=5) from None
    log.info("%s %s attempt %d: %s %s", name, payload.get("job_id"), attempt, outcome.action,
             outcome.reply)
    if outcome.action == "retry":
        raise task.retry(countdown=outcome.delay)
    return outcome.action


def register_tasks(app: Celery, settings: Settings) -> None:
    local = ProcessLocal(settings)

    @app.task(name=SHARE_TASK, bind=True, max_retries=None)
    def deliver_share(self: Task, payload: dict[str, Any]) -> str:
        return run_delivery(self, "share", local.share, payload)

    @app.task(name=CONFIRM_TASK, bind=True, max_retries=None)
    def deliver_confirm(self: Task, payload: dict[str, Any]) -> str:
        return run_delivery(self, "confirm", local.confirm, payload)

    @app.task(name=EXPIRE_TASK)
    def expire_pending() -> int:
        count = local.expire()
        log.info("expired %d unconfirmed sign-up(s)", count)
        return count
