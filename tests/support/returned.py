"""Returned mail for the inbound tests: a delivery in the ledger, and the messages that
come back about it (an RFC 3464 report as Postfix writes one, an unsubscribe mail)."""

from __future__ import annotations

from uuid import uuid4

from mailer.config import Settings
from mailer.delivery.ledger import JobStatus
from mailer.stores import Stores
from mailer.tokens import ReturnPaths

BOUNCES = "bounces@bounces.today.az"
READER = "leyla@example.org"


def sent(stores: Stores, to: str = READER, kind: str = "digest") -> str:
    job_id = uuid4().hex
    stores.ledger.create(job_id, kind=kind, recipient=to, reference="2026-11-26")
    stores.ledger.mark(job_id, JobStatus.SENT, "250 2.0.0 queued")
    return job_id


def return_path(settings: Settings, job_id: str) -> str:
    return ReturnPaths(settings.secret_key.get_secret_value(), BOUNCES).address(job_id)


def dsn(to: str, status: str = "5.1.1", recipient: str = READER, action: str = "failed",
        diagnostic: str = "") -> bytes:
    code = "550" if status.startswith("5") else "452"
    words = diagnostic or f"{code} {status} mailbox problem"
    return (f"From: MAILER-DAEMON@mx.example.org (Mail Delivery System)\r\n"
            f"To: {to}\r\nSubject: Undelivered Mail Returned to Sender\r\n"
            f"Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
            f'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n'
            f"\r\n--b\r\nContent-Type: text/plain\r\n\r\nI'm sorry to have to inform you "
            f"that your message could not be delivered.\r\n\r\n--b\r\n"
            f"Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.org"
            f"\r\n\r\nFinal-Recipient: rfc822; {recipient}\r\nAction: {action}\r\n"
            f"Status: {status}\r\nDiagnostic-Code: smtp; {words}"
            f"\r\n\r\n--b--\r\n").encode()


def unsubscribe_mail(token: str, to: str = "unsubscribe@today.az") -> bytes:
    return (f"From: Leyla <{READER}>\r\nTo: {to}\r\n"
            f"Subject: unsubscribe {token}\r\n\r\n\r\n").encode()
