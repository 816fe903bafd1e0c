"""Mailgun's webhooks (`POST /webhooks/mailgun`, JSON with `signature` and `event-data`).

The signature (https://documentation.mailgun.com/docs/mailgun/user-manual/webhooks/securing-webhooks):
HMAC-SHA256, keyed with the webhook signing key (MAILER_MAILGUN_SIGNING_KEY), of the
timestamp and the token concatenated, in hex. As that page advises, an old timestamp
is refused and each token is accepted once (the replay guard, in Redis).

Events (https://documentation.mailgun.com/docs/mailgun/user-manual/webhooks/webhook-payloads):
`failed` with severity `permanent` is a hard bounce (reasons `bounce`, `delayed-bounce`,
`suppress-bounce`, `generic`), except the suppressions Mailgun applies for an earlier
complaint or unsubscribe (`suppress-complaint`, `suppress-unsubscribe`, read as those;
the reasons are listed in https://documentation.mailgun.com/en/latest/api-stats.html);
`temporary` is a failed attempt that Mailgun will retry (`generic`, `espblock`...), one
per attempt, so it is a delay, never a soft bounce that would count each retry. Reason
`old` is Mailgun giving up on a temporary failure after its retries: a soft bounce,
whichever severity it comes with (Mailgun sends it as `temporary`:
https://feedback.mailgun.com/forums/914635-general-feedback/suggestions/37219720).
`complained` and `unsubscribed` are what they say; the rest is ignored.
`envelope.sender` is the envelope sender: with VERP it is our return path (a delayed
bounce comes with an empty envelope).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from mailer.errors import Forbidden, Unauthorized
from mailer.inbound.webhooks.base import (
    Headers,
    JsonParser,
    ProviderEvent,
    WebhookProvider,
    as_dict,
    body_object,
    check_age,
    single,
    status_in,
    text,
)

TOKEN_MAX = 200


class MailgunProvider(WebhookProvider):
    name = "mailgun"

    def __init__(self, parse: JsonParser, *, signing_key: str) -> None:
        super().__init__(parse)
        self._key = signing_key.encode()

    def verify(self, headers: Headers, body: bytes) -> None:
        signed = as_dict(body_object(self, body).get("signature"))
        timestamp, token = text(signed.get("timestamp")), text(signed.get("token"))
        given = text(signed.get("signature"))
        if not (timestamp and token and given):
            raise Unauthorized("a Mailgun webhook must carry its signature")
        if len(token) > TOKEN_MAX or not timestamp.isdigit():
            raise Forbidden("the Mailgun signature is malformed")
        expected = hmac.new(self._key, (timestamp + token).encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected.encode(), given.lower().encode()):
            raise Forbidden("the Mailgun signature does not verify")
        check_age(timestamp)

    def replay_key(self, headers: Headers, body: bytes) -> str | None:
        return text(as_dict(body_object(self, body).get("signature")).get("token"))

    def events(self, body: bytes) -> list[ProviderEvent]:
        return mailgun_events(as_dict(body_object(self, body).get("event-data")))


def mailgun_events(data: dict[str, Any]) -> list[ProviderEvent]:
    event, reason = text(data.get("event")), text(data.get("reason"))
    who = data.get("recipient")
    sender = text(as_dict(data.get("envelope")).get("sender"))
    reference = text(as_dict(as_dict(data.get("message")).get("headers")).get("message-id"))
    if event == "complained" or reason == "suppress-complaint":
        return single("complaint", who, return_path=sender, reference=reference)
    if event == "unsubscribed" or reason == "suppress-unsubscribe":
        return single("unsubscribe", who, return_path=sender, reference=reference)
    if event != "failed":
        return []
    said = as_dict(data.get("delivery-status"))
    words = " ".join(filter(None, (text(said.get("code")), text(said.get("message")),
                                   text(said.get("description"))))) or reason
    status = status_in(text(said.get("enhanced-code")), words)
    if text(data.get("severity")) != "permanent" and reason != "old":
        return single("delay", who, status=status, diagnostic=words, return_path=sender,
                      reference=reference)
    return single("bounce", who, hard=reason != "old", status=status, diagnostic=words,
                  blames_us=(status or "").startswith("5.7"),
                  return_path=sender, reference=reference)
