"""The job ledger: one record per accepted message, shared by the API and all workers.

It is what makes redelivery safe: a worker claims a job before sending and marks it
sent after, so a task that runs twice (acks_late, a retry, a crash) finds it sent and
does not e-mail the friend again.

Redis keys:
    mailer:job:{job_id}   hash: kind, status, recipient, reference, attempts,
                          last_reply, lease_until, created_at, updated_at
                          (expires `ttl` seconds after it reaches sent or failed)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

import redis

from mailer.errors import ServiceUnavailable

T = TypeVar("T")


class JobStatus(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    DEFERRED = "deferred"
    SENT = "sent"
    FAILED = "failed"


FINAL = {JobStatus.SENT, JobStatus.FAILED}


class Claim(StrEnum):
    CLAIMED = "claimed"    # go ahead and send
    DONE = "done"          # already sent or failed: do nothing
    BUSY = "busy"          # another worker holds the lease: look again later


@dataclass(frozen=True)
class JobRecord:
    id: str
    kind: str
    status: JobStatus
    recipient: str
    reference: str
    attempts: int
    last_reply: str
    created_at: float
    updated_at: float

    def public(self) -> dict[str, object]:
        """What the HTTP API may show anyone holding the job id: the address is masked."""
        return {
            "job_id": self.id, "kind": self.kind, "status": self.status.value,
            "recipient": mask_address(self.recipient), "reference": self.reference,
            "attempts": self.attempts, "last_reply": self.last_reply,
            "created_at": self.created_at, "updated_at": self.updated_at,
        }


def mask_address(address: str) -> str:
    local, _, domain = address.rpartition("@")
    return f"{local[:1]}***@{domain}" if local else address


# A lease that has run out means the worker that held it died mid-send: whether the
# relay took the message is unknown, and we send again rather than lose it.
_CLAIM = """
local status = redis.call('HGET', KEYS[1], 'status')
local now = tonumber(ARGV[1])
if status == 'sent' or status == 'failed' then return {'done', status} end
if status == 'sending' then
  local lease = tonumber(redis.call('HGET', KEYS[1], 'lease_until') or '0')
  if lease > now then return {'busy', tostring(lease - now)} end
end
redis.call('HSET', KEYS[1], 'status', 'sending', 'lease_until', tostring(now + tonumber(ARGV[2])),
           'updated_at', ARGV[1])
redis.call('HINCRBY', KEYS[1], 'attempts', 1)
redis.call('HSETNX', KEYS[1], 'kind', ARGV[3])
redis.call('HSETNX', KEYS[1], 'recipient', ARGV[4])
redis.call('HSETNX', KEYS[1], 'reference', ARGV[5])
redis.call('HSETNX', KEYS[1], 'created_at', ARGV[1])
redis.call('PERSIST', KEYS[1])
return {'claimed', status or 'missing'}
"""


class JobLedger:
    def __init__(self, client: redis.Redis, ttl_seconds: int) -> None:
        self._redis = client
        self._ttl = ttl_seconds
        self._claim = client.register_script(_CLAIM)

    @staticmethod
    def key(job_id: str) -> str:
        return f"mailer:job:{job_id}"

    def create(self, job_id: str, *, kind: str, recipient: str, reference: str) -> None:
        now = time.time()
        self._call(self._redis.hset, self.key(job_id), mapping={
            "kind": kind, "status": JobStatus.QUEUED.value, "recipient": recipient,
            "reference": reference, "attempts": 0, "last_reply": "",
            "created_at": now, "updated_at": now,
        })

    def claim(self, job_id: str, lease_seconds: float, *, kind: str, recipient: str,
              reference: str) -> tuple[Claim, float]:
        """(CLAIMED, 0), (DONE, 0) or (BUSY, seconds until the other worker's lease ends).

        kind, recipient and reference fill in a record that has gone missing (expired,
        or Redis restarted without its data), so the job is still sent and recorded.
        """
        verdict, detail = self._call(self._claim, keys=[self.key(job_id)],
                                     args=[time.time(), lease_seconds, kind, recipient, reference])
        if _text(verdict) == Claim.BUSY:
            return Claim.BUSY, float(detail)
        return Claim(_text(verdict)), 0.0

    def mark(self, job_id: str, status: JobStatus, reply: str) -> None:
        key = self.key(job_id)
        pipe = self._redis.pipeline()
        pipe.hset(key, mapping={"status": status.value, "last_reply": reply[:1000],
                                "updated_at": time.time(), "lease_until": 0})
        if status in FINAL:
            pipe.expire(key, self._ttl)
        self._call(pipe.execute)

    def get(self, job_id: str) -> JobRecord | None:
        raw = self._call(self._redis.hgetall, self.key(job_id))
        if not raw:
            return None
        data = {_text(k): _text(v) for k, v in raw.items()}
        return JobRecord(
            id=job_id, kind=data.get("kind", ""), status=JobStatus(data["status"]),
            recipient=data.get("recipient", ""), reference=data.get("reference", ""),
            attempts=int(data.get("attempts", 0)), last_reply=data.get("last_reply", ""),
            created_at=float(data.get("created_at", 0)),
            updated_at=float(data.get("updated_at", 0)),
        )

    @staticmethod
    def _call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            return fn(*args, **kwargs)
        except redis.RedisError as exc:
            raise ServiceUnavailable(f"job ledger unavailable: {exc}") from None


def _text(value: bytes | str) -> str:
    """Works whether or not the caller's client was made with decode_responses."""
    return value.decode() if isinstance(value, bytes) else str(value)
