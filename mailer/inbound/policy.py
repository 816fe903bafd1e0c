"""The one feedback policy: what a returned message means for its reader, beside the
reply policy (mailer/sending/replies.py) that says what a relay's answer means.

- a hard bounce (mailbox unknown or disabled, domain gone): the address is suppressed,
  and the message's row goes from `sent` to `bounced`;
- a soft bounce (mailbox full, temporary): counted; the Nth in a row with no delivery
  between (MAILER_SOFT_BOUNCE_LIMIT within MAILER_SOFT_BOUNCE_DAYS) suppresses the
  address as unreachable;
- a refusal that names our server, content or reputation blames no reader: counted
  against the recipient's domain, for the operator;
- a complaint: unsubscribed from everything, suppressed with reason complaint, and no
  more shares either;
- a delay warning is counted and never suppresses; an auto-reply is ignored;
- anything returned without one of our own sealed return paths, or with a forged or
  stale one, acts on no one: counted, so a forged bounce cannot unsubscribe a reader;
- what cannot be read is kept for a person (`mailer inbound unknown`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mailer.inbound.report import FeedbackType

# "attested": a provider's signed event (mailer.inbound.webhooks) vouches for the
# recipients it names, as our own return path does.
TokenState = Literal["ours", "attested", "missing", "forged", "stale", "unknown-message"]
Action = Literal["suppressed", "counted", "unreachable", "blames-us", "complained",
                 "unsubscribed", "ignored", "untrusted", "kept"]


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str = ""  # for the suppression list and the ledger row


def decide(kind: FeedbackType, token: TokenState, *, hard: bool = False,
           blames_us: bool = False, status: str = "", diagnostic: str = "",
           soft_streak: int = 0, soft_limit: int = 3) -> Decision:
    """`soft_streak`: this address's soft bounces in a row, this one included."""
    if kind == "unknown":
        return Decision("kept")
    if kind == "auto-reply":
        return Decision("ignored")
    trusted = token in ("ours", "attested")
    if kind == "unsubscribe":
        return Decision("unsubscribed" if trusted else "untrusted")
    if not trusted:
        return Decision("untrusted")
    words = f"{status} {diagnostic}".strip()
    if kind == "delay":
        return Decision("counted", f"delayed: {words}")
    if kind == "complaint":
        return Decision("complained", "complaint: the reader reported our mail as spam")
    if blames_us:
        return Decision("blames-us", f"refused for our server or content: {words}")
    if hard:
        return Decision("suppressed", f"bounced: {words}")
    if soft_streak >= soft_limit:
        return Decision("unreachable", f"unreachable: {soft_streak} soft bounces in a row, "
                                       f"the last {words}")
    return Decision("counted", f"soft bounce: {words}")


# Every (type, action) `decide` can answer: /metrics exports each from 0, so that
# Prometheus' rate() sees the first one.
OUTCOMES: tuple[tuple[FeedbackType, Action], ...] = (
    ("bounce", "suppressed"), ("bounce", "counted"), ("bounce", "unreachable"),
    ("bounce", "blames-us"), ("bounce", "untrusted"), ("delay", "counted"),
    ("delay", "untrusted"), ("complaint", "complained"), ("complaint", "untrusted"),
    ("unsubscribe", "unsubscribed"), ("unsubscribe", "untrusted"), ("auto-reply", "ignored"),
    ("unknown", "kept"))
