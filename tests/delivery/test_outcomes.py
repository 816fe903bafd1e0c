"""OutcomeWriter: a send result's after-effects (attempt log, metrics, ledger record,
suppression), on a real database and real Redis, with results as a relay gives them."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from datetime import timedelta

import pytest
import redis

from mailer.db import SessionFactory
from mailer.delivery.attempts import LOGGER
from mailer.delivery.ledger import DeliveryLedger, JobStatus
from mailer.delivery.outcomes import Dispatch, LedgerRecord, OutcomeWriter
from mailer.delivery.recorder import KEY_PREFIX, MESSAGES, MetricsRecorder
from mailer.delivery.retry import RetryPolicy
from mailer.delivery.suppression import SuppressionStore
from mailer.errors import NotAttempted, ServiceUnavailable
from mailer.models import utcnow
from mailer.sending.backends.base import SendResult
from mailer.sending.message import Envelope
from mailer.sending.replies import classify


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[dict[str, object]] = []
        self.records = 0

    def emit(self, record: logging.LogRecord) -> None:
        """One JSON object a line, however many lines a record holds."""
        self.records += 1
        self.lines += [json.loads(line) for line in record.getMessage().split("\n")]


@pytest.fixture
def attempt_log() -> Iterator[Lines]:
    """The attempt log's lines, whatever configured the logger before."""
    handler, level = Lines(), LOGGER.level
    LOGGER.addHandler(handler)
    LOGGER.setLevel(logging.INFO)
    yield handler
    LOGGER.removeHandler(handler)
    LOGGER.setLevel(level)


class CountingLedger(DeliveryLedger):
    """The real ledger, counting the commits of outcomes."""

    def __init__(self, sessions: SessionFactory) -> None:
        super().__init__(sessions)
        self.commits: list[int] = []

    def record_now(self, outcomes: Sequence[LedgerRecord]) -> None:
        self.commits.append(len(outcomes))
        super().record_now(outcomes)


def dispatch(ledger: DeliveryLedger, name: str, kind: str = "digest",
             attempts: int = 1, queued_ago: float = 5.0) -> Dispatch:
    recipient = f"{name}@example.org"
    ledger.create(name, kind=kind, recipient=recipient, reference="2020-10-28")
    return Dispatch(name, kind, recipient, utcnow() - timedelta(seconds=queued_ago), attempts)


def result(message: Dispatch, reply: str, code: int = 0, stage: str = "RCPT TO"
           ) -> SendResult:
    envelope = Envelope(b"Subject: hi\r\n\r\nHi\r\n", "news@today.az", message.recipient)
    if not code:
        return SendResult(envelope, reply)
    return SendResult(envelope, "", classify(code, reply, stage))


def counted(client: redis.Redis) -> dict[str, int]:
    return {k.decode(): int(v) for k, v in client.hgetall(MESSAGES).items()}


def histogram_count(client: redis.Redis, name: str) -> int:
    return int(client.hget(f"{KEY_PREFIX}hist:{name}", "count") or 0)


def test_a_batch_is_logged_counted_recorded_every_n_and_its_bounces_suppressed(
        sessions: SessionFactory, redis_client: redis.Redis, attempt_log: Lines) -> None:
    ledger, suppressions = CountingLedger(sessions), SuppressionStore(sessions)
    writer = OutcomeWriter(record=ledger.record_now, suppressions=suppressions,
                           metrics=MetricsRecorder(redis_client), record_every=2)
    sent, later, gone, held = (dispatch(ledger, name) for name in ("ann", "ben", "cem", "dan"))
    verdicts = [writer.take(sent, result(sent, "250 2.0.0 OK"), 0.01),
                writer.take(later, result(later, "4.7.1 try later", 451), 0.02)]
    assert ledger.commits == [2], "two results, one commit"
    assert attempt_log.records == 1 and len(attempt_log.lines) == 2, \
        "the attempt log's lines go with the records, in one log record"
    assert counted(redis_client) == {}, "the metrics go once a batch, at its end"
    verdicts.append(writer.take(gone, result(gone, "5.1.1 no such user", 550), 0.03))
    assert ledger.commits == [2] and suppressions.suppressed([gone.recipient]) == set()
    held_back = SendResult(result(held, "").envelope, "", NotAttempted(2.5, "no send slot"))
    verdicts.append(writer.take(held, held_back, 0.0))
    writer.finish()
    assert ledger.commits == [2, 2] and attempt_log.records == 2
    assert [v.outcome for v in verdicts] == ["sent", "deferred", "failed", "throttled"]
    assert verdicts[3].wait == 2.5 and not verdicts[3].went_out
    statuses = {m.message_id: record.status for m in (sent, later, gone, held)
                if (record := ledger.get(m.message_id)) is not None}
    assert statuses == {"ann": JobStatus.SENT, "ben": JobStatus.DEFERRED,
                        "cem": JobStatus.FAILED, "dan": JobStatus.QUEUED}
    assert suppressions.suppressed([gone.recipient, later.recipient]) == {gone.recipient}
    assert counted(redis_client) == {"digest|sent": 1, "digest|deferred": 1,
                                     "digest|failed": 1, "digest|throttled": 1}
    assert histogram_count(redis_client, "smtp_seconds") == 4
    assert histogram_count(redis_client, "delivery_seconds") == 2, "final outcomes only"
    assert [(line["message_id"], line["domain"], line["outcome"], line["smtp_code"])
            for line in attempt_log.lines] == [
        ("ann", "example.org", "sent", 250), ("ben", "example.org", "deferred", 451),
        ("cem", "example.org", "failed", 550), ("dan", "example.org", "throttled", None)]


def test_the_retry_horizon_waits_a_deferral_out_or_gives_it_up(
        sessions: SessionFactory, redis_client: redis.Redis, attempt_log: Lines) -> None:
    ledger = DeliveryLedger(sessions)
    writer = OutcomeWriter(record=ledger.record_now, suppressions=None,
                           metrics=MetricsRecorder(redis_client), retry=RetryPolicy(10, 40, 3600))
    fresh = dispatch(ledger, "eda", kind="share", attempts=2)
    old = dispatch(ledger, "fat", kind="share", attempts=7, queued_ago=7200)
    waits = writer.take(fresh, result(fresh, "4.7.1 try later", 451), 0.01)
    fails = writer.take(old, result(old, "4.7.1 try later", 451), 0.01)
    writer.finish()
    assert (waits.status, waits.retry) == (JobStatus.DEFERRED, True)
    assert 10 <= waits.wait <= 20, "the backoff of a second attempt"
    assert (fails.status, fails.retry) == (JobStatus.FAILED, False)
    record = ledger.get(old.message_id)
    assert record is not None and record.status is JobStatus.FAILED
    assert record.last_reply.startswith("gave up after 7 attempts: ")
    assert [line["outcome"] for line in attempt_log.lines] == ["deferred", "failed"]
    assert counted(redis_client) == {"share|deferred": 1, "share|failed": 1}


def test_a_throttled_message_is_no_attempt_whatever_the_horizon(
        sessions: SessionFactory) -> None:
    ledger = DeliveryLedger(sessions)
    writer = OutcomeWriter(record=ledger.record_now, suppressions=None, metrics=None,
                           retry=RetryPolicy(10, 40, 1))
    held = dispatch(ledger, "gul", kind="share", attempts=9, queued_ago=7200)
    judged = writer.take(held, SendResult(result(held, "").envelope, "",
                                          NotAttempted(1.5, "no send slot")), 0.0)
    writer.finish()
    assert (judged.status, judged.wait, judged.went_out) == (JobStatus.QUEUED, 1.5, False)


def test_a_bounce_whose_record_did_not_reach_the_ledger_is_not_suppressed(
        sessions: SessionFactory) -> None:
    ledger, suppressions = DeliveryLedger(sessions), SuppressionStore(sessions)

    def away(records: Sequence[LedgerRecord]) -> None:
        raise ServiceUnavailable("the database is not answering")

    writer = OutcomeWriter(record=away, suppressions=suppressions, metrics=None)
    gone = dispatch(ledger, "hal")
    with pytest.raises(ServiceUnavailable):
        writer.take(gone, result(gone, "5.1.1 no such user", 550), 0.01)
    with pytest.raises(ServiceUnavailable):
        writer.finish()
    assert suppressions.suppressed([gone.recipient]) == set()
    record = ledger.get(gone.message_id)
    assert record is not None and record.status is JobStatus.QUEUED
