from __future__ import annotations

import time

import redis

from mailer.jobs import Claim, JobLedger, JobStatus, mask_address

CLAIM = {"kind": "share", "recipient": "bob@example.org", "reference": "a-story"}


def ledger_for(client: redis.Redis) -> JobLedger:
    return JobLedger(client, ttl_seconds=3600)


def test_new_job_is_queued(redis_client: redis.Redis) -> None:
    ledger = ledger_for(redis_client)
    ledger.create("j1", kind="share", recipient="bob@example.org", reference="a-story")
    record = ledger.get("j1")
    assert record is not None
    assert (record.status, record.attempts, record.recipient) == (JobStatus.QUEUED, 0,
                                                                  "bob@example.org")
    assert redis_client.ttl(JobLedger.key("j1")) == -1, "an open job never expires"


def test_claim_then_a_second_claim_waits(redis_client: redis.Redis) -> None:
    ledger = ledger_for(redis_client)
    ledger.create("j2", **CLAIM)
    assert ledger.claim("j2", 30, **CLAIM) == (Claim.CLAIMED, 0.0)
    verdict, wait = ledger.claim("j2", 30, **CLAIM)
    assert verdict is Claim.BUSY
    assert 25 < wait <= 30


def test_sent_job_is_never_claimed_again(redis_client: redis.Redis) -> None:
    ledger = ledger_for(redis_client)
    ledger.create("j3", **CLAIM)
    ledger.claim("j3", 30, **CLAIM)
    ledger.mark("j3", JobStatus.SENT, "250 OK")
    assert ledger.claim("j3", 30, **CLAIM) == (Claim.DONE, 0.0)
    record = ledger.get("j3")
    assert record is not None and record.status is JobStatus.SENT and record.attempts == 1
    assert 0 < redis_client.ttl(JobLedger.key("j3")) <= 3600


def test_deferred_job_can_be_claimed_again(redis_client: redis.Redis) -> None:
    ledger = ledger_for(redis_client)
    ledger.create("j4", **CLAIM)
    ledger.claim("j4", 30, **CLAIM)
    ledger.mark("j4", JobStatus.DEFERRED, "451 later")
    assert ledger.claim("j4", 30, **CLAIM)[0] is Claim.CLAIMED
    record = ledger.get("j4")
    assert record is not None and record.attempts == 2 and record.last_reply == "451 later"


def test_expired_lease_is_taken_over(redis_client: redis.Redis) -> None:
    ledger = ledger_for(redis_client)
    ledger.create("j5", **CLAIM)
    ledger.claim("j5", 0.2, **CLAIM)
    time.sleep(0.3)
    assert ledger.claim("j5", 30, **CLAIM)[0] is Claim.CLAIMED


def test_missing_record_is_recreated_on_claim(redis_client: redis.Redis) -> None:
    ledger = ledger_for(redis_client)
    assert ledger.claim("gone", 30, **CLAIM)[0] is Claim.CLAIMED
    record = ledger.get("gone")
    assert record is not None
    assert (record.kind, record.recipient, record.reference) == ("share", "bob@example.org",
                                                                 "a-story")


def test_public_view_masks_the_address() -> None:
    assert mask_address("vuqar@example.org") == "v***@example.org"


def test_get_unknown_job_is_none(redis_client: redis.Redis) -> None:
    assert ledger_for(redis_client).get("nope") is None
