"""Bounce intake: a relay or ESP reports what happened after it accepted a message
(an asynchronous bounce, a spam complaint). Hard bounces and complaints put the
address on the suppression list; soft bounces are only counted, since the relay
already retried them.

The body of `POST /webhooks/bounce` is one JSON object, a list of them, or
`{"bounces": [...]}`; each object:

    {"email": "reader@example.org", "type": "hard" | "soft" | "complaint",
     "reason": "550 5.1.1 mailbox unknown"}

`type` defaults to "hard"; `reason` is optional.
"""

from __future__ import annotations

from dataclasses import dataclass

from mailer.delivery.suppression import SuppressionStore
from mailer.errors import InvalidInput
from mailer.validation import check_address

TYPES = ("hard", "soft", "complaint")
MAX_ITEMS = 1000
REASON_MAX = 500


@dataclass(frozen=True)
class Bounce:
    email: str
    type: str
    reason: str


@dataclass(frozen=True)
class BounceReport:
    suppressed: int  # newly on the list
    already: int  # hard bounces or complaints for addresses already listed
    soft: int

    def as_dict(self) -> dict[str, int]:
        return {"suppressed": self.suppressed, "already_suppressed": self.already,
                "soft": self.soft}


def parse_bounces(body: object) -> list[Bounce]:
    items = body.get("bounces", body) if isinstance(body, dict) else body
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list) or not items:
        raise InvalidInput({"body": "must be a bounce object, a list of them, "
                                    "or {\"bounces\": [...]}"})
    if len(items) > MAX_ITEMS:
        raise InvalidInput({"body": f"at most {MAX_ITEMS} bounces per request"})
    found = []
    for index, item in enumerate(items):
        where = f"[{index}]"
        if not isinstance(item, dict):
            raise InvalidInput({where: "must be an object with an email"})
        kind = item.get("type", "hard")
        if kind not in TYPES:
            raise InvalidInput({f"{where}.type": f"must be one of {', '.join(TYPES)}"})
        reason = item.get("reason", "")
        if not isinstance(reason, str) or len(reason) > REASON_MAX:
            raise InvalidInput({f"{where}.reason": f"must be text of at most {REASON_MAX} "
                                                   "characters"})
        found.append(Bounce(check_address(item.get("email"), f"{where}.email"), kind,
                            reason.replace("\r", " ").replace("\n", " ")))
    return found


def record_bounces(store: SuppressionStore, bounces: list[Bounce]) -> BounceReport:
    blocking = [(b.email, f"{b.type} bounce via webhook: {b.reason}".rstrip(": "))
                for b in bounces if b.type != "soft"]
    new = store.add_many(blocking, "webhook") if blocking else 0
    unique = len({email.lower() for email, _ in blocking})
    return BounceReport(new, unique - new, sum(1 for b in bounces if b.type == "soft"))
