"""One JSON line per delivery attempt, for whatever collects the logs (Loki, ELK,
CloudWatch): message id, kind, the recipient's domain (never the address), outcome,
SMTP reply code and latencies. Logger `mailer.deliveries`; the worker writes it to its
standard output, one object a line (see `configure_attempt_log`).

A digest batch gathers its lines (`AttemptLog`) and writes them in one record when it
commits its outcomes to the ledger: the same lines, at a twentieth of the cost of a log
record each."""

from __future__ import annotations

import functools
import json
import logging
import sys
import time
from datetime import datetime

from mailer.delivery.recorder import MetricsRecorder
from mailer.errors import DeliveryError
from mailer.models import utcnow
from mailer.sending.backends.base import SendResult

LOGGER = logging.getLogger("mailer.deliveries")


def attempt_line(message_id: str, kind: str, domain: str, outcome: str,
                 smtp_code: int | None, smtp_ms: float | None, queued_ms: float | None) -> str:
    """One attempt as its JSON line: `outcome` is sent, deferred, failed, suppressed or
    throttled; `smtp_ms` from the message going out to its reply, `queued_ms` from
    queuing (or planning) to this outcome. Written out by hand, byte for byte what
    `json.dumps` makes of the same object (a test holds them together), at a third
    of its cost: the few kinds, outcomes and domains are encoded once each."""
    return (f'{{"event":"delivery_attempt","message_id":{_string(message_id)},'
            f'"kind":{_known(kind)},"domain":{_known(domain)},"outcome":{_known(outcome)},'
            f'"smtp_code":{_number(smtp_code)},"smtp_ms":{_number(smtp_ms)},'
            f'"queued_ms":{_number(queued_ms)}}}')


_string = json.JSONEncoder().encode
_known = functools.lru_cache(maxsize=4096)(_string)


def _number(value: float | None) -> str:
    return "null" if value is None else repr(value)


def reply_code(result: SendResult) -> int | None:
    if isinstance(result.error, DeliveryError):
        return result.error.code or None
    head = result.reply[:3]
    return int(head) if head.isdigit() else None


FINAL_OUTCOMES = {"sent", "failed", "suppressed"}


class AttemptLog:
    """Attempts counted and their lines gathered until `flush` writes the lines in one
    log record (the metrics are the caller's to flush). `log_attempt` is one attempt
    written at once."""

    def __init__(self, metrics: MetricsRecorder | None = None) -> None:
        self._metrics = metrics
        self._lines: list[str] = []
        self._enabled = LOGGER.isEnabledFor(logging.INFO)

    def add(self, *, message_id: str, kind: str, recipient: str, outcome: str,
            smtp_code: int | None, smtp_seconds: float | None,
            queued_at: datetime | None) -> None:
        queued_ms = (utcnow() - queued_at).total_seconds() * 1000 if queued_at else None
        metrics = self._metrics
        if metrics is not None:
            metrics.message(kind, outcome)
            if smtp_seconds is not None:
                metrics.observe("smtp_seconds", smtp_seconds)
            if queued_ms is not None and outcome in FINAL_OUTCOMES:
                metrics.observe("delivery_seconds", queued_ms / 1000)
        if self._enabled:
            self._lines.append(attempt_line(
                message_id, kind, recipient.rpartition("@")[2].lower(), outcome, smtp_code,
                round(smtp_seconds * 1000, 2) if smtp_seconds is not None else None,
                round(queued_ms, 1) if queued_ms is not None else None))

    def flush(self) -> None:
        if self._lines:
            LOGGER.info("\n".join(self._lines))
            self._lines = []


def log_attempt(*, message_id: str, kind: str, recipient: str, outcome: str,
                smtp_code: int | None, smtp_seconds: float | None,
                queued_at: datetime | None, metrics: MetricsRecorder | None = None) -> None:
    """Log the attempt and, with `metrics`, count it (the caller flushes the metrics)."""
    attempts = AttemptLog(metrics)
    attempts.add(message_id=message_id, kind=kind, recipient=recipient, outcome=outcome,
                 smtp_code=smtp_code, smtp_seconds=smtp_seconds, queued_at=queued_at)
    attempts.flush()


def configure_attempt_log(enabled: bool) -> None:
    """JSON lines on the process's real standard output (Celery redirects sys.stdout
    into its own log format), once per process."""
    if LOGGER.handlers:
        return
    LOGGER.propagate = False
    if not enabled:
        LOGGER.setLevel(logging.WARNING)
        LOGGER.addHandler(logging.NullHandler())
        return
    handler = logging.StreamHandler(sys.__stdout__)
    handler.setFormatter(logging.Formatter("%(message)s"))
    LOGGER.addHandler(handler)
    LOGGER.setLevel(logging.INFO)


class Stopwatch:
    """Seconds between consecutive results of a pipelined batch: each message's share
    of the session."""

    def __init__(self) -> None:
        self._last = time.perf_counter()

    def lap(self) -> float:
        now = time.perf_counter()
        lap, self._last = now - self._last, now
        return lap
