"""What reading a returned message gives: the types the intake and the feedback policy
code against, frozen so a result can cross any boundary unchanged."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

FeedbackType = Literal["bounce", "delay", "complaint", "auto-reply", "unsubscribe", "unknown"]


@dataclass(frozen=True)
class FailedRecipient:
    address: str
    status: str | None
    hard: bool
    diagnostic: str = ""


@dataclass(frozen=True)
class Classified:
    type: FeedbackType
    recipients: tuple[FailedRecipient, ...]
    original_message_id: str | None
    original_headers: Mapping[str, str] = field(default_factory=dict)
    blames_us: bool = False
