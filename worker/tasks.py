"""Thin Celery tasks: unpack the JSON payload, call the library, map its outcome to
Celery's retry. No business logic here."""

from __future__ import annotations

import logging
import os
from typing import Any

from celery import Celery, Task

from mailer.config import Settings
from mailer.errors import ServiceUnavailable
from mailer.queue import SHARE_TASK
from mailer.services import (
    connect_redis,
    make_ledger,
    make_renderer,
    make_smtp_backend,
    seeded_article_store,
)
from mailer.share import RetryPolicy, ShareDelivery

log = logging.getLogger("mailer.worker")


class ProcessLocal:
    """Builds the delivery objects once per worker process, after the fork, so each
    child has its own Redis and SMTP connections."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._pid = -1
        self._delivery: ShareDelivery | None = None

    def share_delivery(self) -> ShareDelivery:
        if self._delivery is None or self._pid != os.getpid():
            s = self.settings
            client = connect_redis(s)
            self._delivery = ShareDelivery(
                articles=seeded_article_store(s, client),
                ledger=make_ledger(s, client),
                renderer=make_renderer(s),
                backend=make_smtp_backend(s),
                retry=RetryPolicy(s.share_max_attempts, s.retry_base_seconds, s.retry_max_seconds),
                lease_seconds=s.send_lease_seconds,
                site_name=s.site_name,
                from_email=s.from_email,
                domain=s.site_domain,
            )
            self._pid = os.getpid()
        return self._delivery


def register_tasks(app: Celery, settings: Settings) -> None:
    local = ProcessLocal(settings)

    @app.task(name=SHARE_TASK, bind=True, max_retries=None)
    def deliver_share(self: Task, payload: dict[str, Any]) -> str:
        attempt = self.request.retries + 1
        try:
            outcome = local.share_delivery().deliver(payload, attempt)
        except ServiceUnavailable as exc:
            log.warning("share %s: %s; retrying in 5 s", payload.get("job_id"), exc)
            raise self.retry(countdown=5) from None
        log.info("share %s attempt %d: %s %s", payload.get("job_id"), attempt,
                 outcome.action, outcome.reply)
        if outcome.action == "retry":
            raise self.retry(countdown=outcome.delay)
        return outcome.action
