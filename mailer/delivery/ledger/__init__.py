"""The delivery ledger: one row per message sent or attempted, in the `deliveries` table,
owned by this package alone.

It is what makes redelivery safe: a worker claims a delivery before sending and marks
it sent after, so a task that runs twice (acks_late, a retry, a crash) finds it sent
and does not e-mail anyone again. The claim is one conditional UPDATE, atomic on
SQLite and PostgreSQL alike, so any number of workers on any machines can race for it.

`records.py` holds the states and records, `store.py` the writes (and `DeliveryLedger`),
`queries.py` the reports.
"""

from mailer.delivery.ledger.records import (
    FINAL,
    NOT_QUEUED,
    Claim,
    Claimed,
    JobRecord,
    JobStatus,
    Kind,
    Resent,
    finished,
    summarise,
)
from mailer.delivery.ledger.store import DeliveryLedger

__all__ = ["FINAL", "NOT_QUEUED", "Claim", "Claimed", "DeliveryLedger", "JobRecord",
           "JobStatus", "Kind", "Resent", "finished", "summarise"]
