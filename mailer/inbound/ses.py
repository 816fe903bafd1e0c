"""Amazon SES notifications mailed through SNS: a JSON body, not a report, naming the
bounced or complaining recipients and SES's own Permanent/Transient verdict."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from mailer.inbound.dsn import MAX_RECIPIENTS, STATUS, clean, one_line
from mailer.inbound.report import FailedRecipient, FeedbackType
from mailer.inbound.severity import judge


@dataclass(frozen=True)
class Notification:
    type: FeedbackType
    recipients: tuple[FailedRecipient, ...]


def notification(text: str) -> Notification | None:
    """The notification in `text`, or None when it is not one."""
    if '"notificationType' not in text:  # also \"notificationType\" in an SNS envelope
        return None
    try:
        body = json.loads(text[text.index("{"):text.rindex("}") + 1], strict=False)
    except ValueError:
        body = _salvage(text)  # SNS's mail wraps long lines, sometimes inside a string
    if isinstance(body, dict) and "notificationType" not in body:
        body = _inner(body.get("Message"))
    if not isinstance(body, dict):
        return None
    kind = str(body.get("notificationType", "")).lower()
    if kind == "complaint":
        people = _list(body.get("complaint"), "complainedRecipients")
        return Notification("complaint", tuple(
            FailedRecipient(clean(str(p.get("emailAddress", ""))), None, False)
            for p in people if p.get("emailAddress")))
    if kind == "bounce":
        return _bounce(body.get("bounce"))
    return Notification("unknown", ())


def _inner(message: Any) -> Any:
    """An SNS envelope (Type: Notification) carries SES's notification as a JSON string
    in its Message; a wrapped line inside it is a control character JSON would refuse."""
    if not isinstance(message, str):
        return None
    try:
        return json.loads(message, strict=False)
    except ValueError:
        return _salvage(message)


def _salvage(text: str) -> dict[str, Any]:
    text = text.replace('\\"', '"')  # the notification as an escaped string in the envelope
    kind = re.search(r'"notificationType"\s*:\s*"(\w+)"', text)
    people = [{"emailAddress": a} for a in re.findall(r'"emailAddress"\s*:\s*"([^"]+)"', text)]
    return {"notificationType": kind.group(1) if kind else "",
            "complaint": {"complainedRecipients": people},
            "bounce": {"bouncedRecipients": people}}


def _bounce(bounce: Any) -> Notification:
    permanent = isinstance(bounce, dict) and bounce.get("bounceType") == "Permanent"
    found = []
    for person in _list(bounce, "bouncedRecipients"):
        diagnostic = one_line(str(person.get("diagnosticCode", "")))
        status = STATUS.search(str(person.get("status", "")))
        code = ".".join(status.groups()) if status else None
        hard = permanent and judge(code, diagnostic).hard
        found.append(FailedRecipient(clean(str(person.get("emailAddress", ""))), code, hard,
                                     diagnostic))
    return Notification("bounce", tuple(found))


def _list(section: Any, name: str) -> list[dict[str, Any]]:
    items = section.get(name, []) if isinstance(section, dict) else []
    return [i for i in items if isinstance(i, dict)][:MAX_RECIPIENTS] \
        if isinstance(items, list) else []
