"""SendGrid's signed Event Webhook (`POST /webhooks/sendgrid`, a JSON array of events).

The signature (https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/getting-started-event-webhook-security-features):
ECDSA P-256 with SHA-256 over the `X-Twilio-Email-Event-Webhook-Timestamp` header's
value followed by the raw body, base64 in `X-Twilio-Email-Event-Webhook-Signature`,
checked with the webhook's public key (MAILER_SENDGRID_VERIFICATION_KEY, base64 DER as
SendGrid shows it). An old timestamp is refused and each signature accepted once.

Events (https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/event):
`bounce` is hard, except type `blocked` (soft) and a bounce_classification that names
our content or reputation (blames us); `dropped` is read by its reason (Bounced Address
and Invalid: hard; Spam Reporting Address: a complaint; Unsubscribed Address: an
unsubscribe; Spam Content: blames us); `deferred` is a delay (one per attempt);
`spamreport` a complaint; `unsubscribe` and `group_unsubscribe` unsubscribes; the rest
(processed, delivered, open, click...) is ignored.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from mailer.errors import Forbidden, InvalidInput, Unauthorized
from mailer.inbound.webhooks.base import (
    Headers,
    JsonParser,
    ProviderEvent,
    WebhookProvider,
    as_dict,
    as_list,
    check_age,
    single,
    status_in,
    text,
)

SIGNATURE = "x-twilio-email-event-webhook-signature"
TIMESTAMP = "x-twilio-email-event-webhook-timestamp"
_BLAMES_US = {"Content", "Reputation", "Frequency or Volume Too High"}


def verification_key(encoded: str) -> ec.EllipticCurvePublicKey:
    """The public key SendGrid shows (base64 DER); ValueError when it is not a P-256 key."""
    try:
        key = serialization.load_der_public_key(base64.b64decode(encoded.strip(),
                                                                 validate=True))
    except (ValueError, binascii.Error, TypeError) as exc:
        raise ValueError(f"not a base64 DER public key ({exc})") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise ValueError("not an ECDSA P-256 public key")
    return key


class SendgridProvider(WebhookProvider):
    name = "sendgrid"

    def __init__(self, parse: JsonParser, *, public_key: str) -> None:
        super().__init__(parse)
        self._key = verification_key(public_key)

    def verify(self, headers: Headers, body: bytes) -> None:
        given, timestamp = headers.get(SIGNATURE, ""), headers.get(TIMESTAMP, "")
        if not given or not timestamp:
            raise Unauthorized("a SendGrid webhook must carry its signature and timestamp")
        try:
            signature = base64.b64decode(given.strip(), validate=True)
            self._key.verify(signature, timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        except (ValueError, binascii.Error, InvalidSignature):
            raise Forbidden("the SendGrid signature does not verify") from None
        check_age(timestamp)

    def replay_key(self, headers: Headers, body: bytes) -> str | None:
        return headers.get(SIGNATURE, "").strip()

    def events(self, body: bytes) -> list[ProviderEvent]:
        data = self.json(body)
        if not isinstance(data, list):
            raise InvalidInput({"body": "must be a JSON array of events"})
        return [found for item in as_list(data) for found in sendgrid_event(as_dict(item))]


def sendgrid_event(item: dict[str, Any]) -> list[ProviderEvent]:
    event, who = text(item.get("event")), item.get("email")
    reference = text(item.get("sg_message_id")) or text(item.get("smtp-id"))
    reason = text(item.get("reason")) or text(item.get("response"))
    status = status_in(text(item.get("status")), reason)
    if event == "bounce":
        blames_us = text(item.get("bounce_classification")) in _BLAMES_US \
            or (status or "").startswith("5.7")
        hard = text(item.get("type")) != "blocked" and not blames_us
        return single("bounce", who, hard=hard, status=status, diagnostic=reason,
                      blames_us=blames_us, reference=reference)
    if event == "dropped":
        return _dropped(item, reason, reference)
    if event == "deferred":
        return single("delay", who, status=status, diagnostic=reason, reference=reference)
    if event == "spamreport":
        return single("complaint", who, reference=reference)
    if event in ("unsubscribe", "group_unsubscribe"):
        return single("unsubscribe", who, reference=reference)
    return []


def _dropped(item: dict[str, Any], reason: str, reference: str) -> list[ProviderEvent]:
    who = item.get("email")
    if reason in ("Bounced Address", "Invalid"):
        return single("bounce", who, hard=True, diagnostic=f"dropped: {reason}",
                      reference=reference)
    if reason == "Spam Reporting Address":
        return single("complaint", who, reference=reference)
    if reason == "Unsubscribed Address":
        return single("unsubscribe", who, reference=reference)
    if reason.startswith("Spam Content"):
        return single("bounce", who, diagnostic=f"dropped: {reason}", blames_us=True,
                      reference=reference)
    return []
