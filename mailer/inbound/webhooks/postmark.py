"""Postmark's webhooks (`POST /webhooks/postmark`).

Postmark does not sign its webhooks: it offers HTTP Basic credentials written into the
webhook URL (https://postmarkapp.com/developer/webhooks/webhooks-overview, "Protecting
your webhook"), so that is what is checked, against MAILER_POSTMARK_WEBHOOK_USER and
MAILER_POSTMARK_WEBHOOK_PASSWORD, compared in constant time. The credentials prove only
who knows them, not what the body says: serve the API over https, and choose a long
password. A POST's record type and ID name it, so a repeated one is acted on once.

Bounce types (https://postmarkapp.com/developer/api/bounce-api#bounce-types):
HardBounce and BadEmailAddress are hard; SoftBounce and DnsError soft; Transient is a
delay; Blocked, SpamNotification, VirusNotification and DMARCPolicy blame our mail, not
the reader; AutoResponder, AddressChange, ChallengeVerification and Subscribe are
auto-replies; Unsubscribe and SpamComplaint are what they say. The SpamComplaint record
(https://postmarkapp.com/developer/webhooks/spam-complaint-webhook) is a complaint.

The Bounce and SpamComplaint webhooks exist only on transactional streams: on a
broadcast stream (a newsletter's) Postmark reports both as a SubscriptionChange
(https://postmarkapp.com/developer/webhooks/subscription-change-webhook), so one that
suppresses is read by its SuppressionReason: HardBounce a hard bounce, SpamComplaint a
complaint, ManualSuppression an unsubscribe (the reader's, or ours through Postmark's
UI or API); a reactivation (SuppressSending false) is ignored.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from typing import Any

from mailer.errors import BasicAuthRequired, Forbidden
from mailer.inbound.report import FeedbackType
from mailer.inbound.webhooks.base import (
    Headers,
    JsonParser,
    ProviderEvent,
    WebhookProvider,
    body_object,
    single,
    status_in,
    text,
)

_BOUNCES: dict[str, tuple[FeedbackType, bool, bool]] = {  # type, hard, blames us
    "HardBounce": ("bounce", True, False), "BadEmailAddress": ("bounce", True, False),
    "SoftBounce": ("bounce", False, False), "DnsError": ("bounce", False, False),
    "Transient": ("delay", False, False),
    "Blocked": ("bounce", False, True), "SpamNotification": ("bounce", False, True),
    "VirusNotification": ("bounce", False, True), "DMARCPolicy": ("bounce", False, True),
    "AutoResponder": ("auto-reply", False, False), "AddressChange": ("auto-reply", False, False),
    "ChallengeVerification": ("auto-reply", False, False),
    "Subscribe": ("auto-reply", False, False),
    "Unsubscribe": ("unsubscribe", False, False),
    "SpamComplaint": ("complaint", False, False),
}


class PostmarkProvider(WebhookProvider):
    name = "postmark"

    def __init__(self, parse: JsonParser, *, user: str, password: str) -> None:
        super().__init__(parse)
        self._user = user.encode()
        self._password = password.encode()

    def verify(self, headers: Headers, body: bytes) -> None:
        scheme, _, credentials = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic" or not credentials.strip():
            raise BasicAuthRequired("Postmark's webhook must come with its credentials")
        try:
            user, _, password = base64.b64decode(credentials.strip(), validate=True).partition(
                b":")
        except (ValueError, binascii.Error):
            raise Forbidden("the webhook credentials cannot be read") from None
        right_user = hmac.compare_digest(user, self._user)
        if not (hmac.compare_digest(password, self._password) and right_user):
            raise Forbidden("wrong webhook credentials")

    def replay_key(self, headers: Headers, body: bytes) -> str | None:
        record = body_object(self, body)
        given = text(record.get("ID"))
        return f"{text(record.get('RecordType'))}:{given}" if given else None

    def events(self, body: bytes) -> list[ProviderEvent]:
        return postmark_events(body_object(self, body))


def postmark_events(record: dict[str, Any]) -> list[ProviderEvent]:
    kind, reference = text(record.get("RecordType")), text(record.get("MessageID"))
    if kind == "SubscriptionChange":
        return _subscription_change(record, reference)
    if kind not in ("Bounce", "SpamComplaint"):
        return []
    meaning = _BOUNCES.get(text(record.get("Type")))
    if meaning is None:
        return []
    what, hard, blames_us = meaning
    words = text(record.get("Details")) or text(record.get("Description"))
    return single(what, record.get("Email"), hard=hard, status=status_in(words),
                  diagnostic=words, blames_us=blames_us, reference=reference)


_SUPPRESSIONS: dict[str, tuple[FeedbackType, bool]] = {  # SuppressionReason: type, hard
    "HardBounce": ("bounce", True), "SpamComplaint": ("complaint", False),
    "ManualSuppression": ("unsubscribe", False),
}


def _subscription_change(record: dict[str, Any], reference: str) -> list[ProviderEvent]:
    meaning = _SUPPRESSIONS.get(text(record.get("SuppressionReason")))
    if record.get("SuppressSending") is not True or meaning is None:
        return []
    what, hard = meaning
    return single(what, record.get("Recipient"), hard=hard,
                  diagnostic=f"Postmark suppressed: {text(record.get('SuppressionReason'))}",
                  reference=reference)
