"""Amazon SES notifications, delivered by SNS to `POST /webhooks/ses`.

SNS signs every message (https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html):
SignatureVersion 1 is SHA1withRSA, 2 is SHA256withRSA, over the canonical string of the
message's fields (https://docs.aws.amazon.com/sns/latest/dg/sns-example-code-endpoint-java-servlet.html
names them per type), with the certificate at `SigningCertURL`, which must be https on
an `sns.<region>.amazonaws.com` host. Anyone can own an SNS topic and have AWS sign for
it, so the topic must also be one of MAILER_SES_TOPIC_ARNS. A SubscriptionConfirmation
is confirmed (a GET of its SubscribeURL) only with MAILER_SES_CONFIRM_SUBSCRIPTIONS on;
otherwise the URL is logged for the operator to open.

The SES notification in the message (https://docs.aws.amazon.com/ses/latest/dg/notification-contents.html)
names the recipients and SES's verdict: bounceType Permanent is hard (General, NoEmail,
Suppressed, OnAccountSuppressionList) for each recipient whose own status is not a 4.x.x
"delayed" one (the page's bounce object lists such a recipient beside a failed one),
Transient and Undetermined are soft, Transient ContentRejected, AttachmentRejected and
MessageTooLarge blame our message rather than the reader; complaints (except `not-spam`
feedback) and DeliveryDelay events are read too, deliveries ignored. A configuration
set's event publishing sends the same objects under `eventType` instead of
`notificationType` (https://docs.aws.amazon.com/ses/latest/dg/event-publishing-retrieving-sns-contents.html),
and adds the Subscription event of SES's own list management: one whose new preferences
unsubscribe from all topics is the reader's unsubscribe, when the message had one
recipient (the event does not say which). `mail.source` is the envelope sender: with
VERP it is our return path; the event records can give it with a display name
("Sender Name <sender@example.com>"), so the address is taken out of it.
"""

from __future__ import annotations

import base64
import logging
import re
import ssl
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parseaddr
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from mailer.errors import Forbidden, ServiceUnavailable, Unauthorized
from mailer.inbound.webhooks.base import (
    Headers,
    JsonParser,
    ProviderEvent,
    WebhookProvider,
    as_dict,
    as_list,
    body_object,
    check_age,
    single,
    status_in,
    text,
)

log = logging.getLogger(__name__)
CertFetcher = Callable[[str], bytes]
_SNS_HOST = re.compile(r"^sns\.[a-z0-9-]{1,40}\.amazonaws\.com(\.cn)?$")
_TYPES = {"Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
          "SubscriptionConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp",
                                       "Token", "TopicArn", "Type")}
_TYPES["UnsubscribeConfirmation"] = _TYPES["SubscriptionConfirmation"]
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}
CERT_MAX_BYTES = 64 * 1024
FETCH_TIMEOUT = 5.0
CACHE_SIZE = 32


def sns_url(url: str) -> bool:
    """An https URL on an SNS host: where certificates and subscriptions come from."""
    try:
        parts = urlsplit(url)
        return parts.scheme == "https" and bool(_SNS_HOST.match(parts.hostname or "")) \
            and parts.port in (None, 443) and not parts.username
    except ValueError:
        return False


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a redirect could leave https or the SNS host


def fetch_https(url: str) -> bytes:
    """The production fetcher: https only, no redirects, a timeout, a size limit.
    A failure is ServiceUnavailable (503): SNS tries the message again later."""
    if urlsplit(url).scheme != "https":
        raise Forbidden("only https URLs are fetched")
    opener = urllib.request.build_opener(_NoRedirect,
                                         urllib.request.HTTPSHandler(
                                             context=ssl.create_default_context()))
    try:
        with opener.open(url, timeout=FETCH_TIMEOUT) as response:
            data = bytes(response.read(CERT_MAX_BYTES + 1))
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise ServiceUnavailable(f"cannot fetch {url}: {exc}") from exc
    if len(data) > CERT_MAX_BYTES:
        raise Forbidden(f"{url} is larger than {CERT_MAX_BYTES} bytes")
    return data


class SigningCertificates:
    """SNS's signing certificates by URL, fetched once each (they are few and change
    rarely), checked to be RSA and within their validity."""

    def __init__(self, fetch: CertFetcher) -> None:
        self._fetch = fetch
        self._keys: dict[str, rsa.RSAPublicKey] = {}
        self._lock = threading.Lock()

    def key(self, url: str) -> rsa.RSAPublicKey:
        if not sns_url(url) or not urlsplit(url).path.endswith(".pem"):
            raise Forbidden("SigningCertURL is not an https .pem on an SNS host")
        with self._lock:
            known = self._keys.get(url)
        if known is not None:
            return known
        try:
            cert = x509.load_pem_x509_certificate(self._fetch(url))
        except ValueError:
            raise Forbidden("the signing certificate cannot be read") from None
        now = datetime.now(UTC)
        public = cert.public_key()
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc \
                or not isinstance(public, rsa.RSAPublicKey):
            raise Forbidden("the signing certificate is out of date or not RSA")
        with self._lock:
            if len(self._keys) >= CACHE_SIZE:
                self._keys.clear()
            self._keys[url] = public
        return public


class SesProvider(WebhookProvider):
    name = "ses"

    def __init__(self, parse: JsonParser, *, topics: frozenset[str],
                 certificates: SigningCertificates,
                 confirm: Callable[[str], object] | None) -> None:
        super().__init__(parse)
        self._topics = topics
        self._certificates = certificates
        self._confirm = confirm

    def verify(self, headers: Headers, body: bytes) -> None:
        message = body_object(self, body)
        kind = text(message.get("Type"))
        if not message.get("Signature") or not message.get("SigningCertURL"):
            raise Unauthorized("an SNS message must be signed")
        if kind not in _TYPES or headers.get("x-amz-sns-message-type", kind) != kind:
            raise Forbidden("not an SNS message type we read")
        if text(message.get("TopicArn")) not in self._topics:
            raise Forbidden("the SNS topic is not one of MAILER_SES_TOPIC_ARNS")
        algorithm = _HASHES.get(text(message.get("SignatureVersion")))
        if algorithm is None:
            raise Forbidden("unknown SNS SignatureVersion")
        key = self._certificates.key(text(message.get("SigningCertURL")))
        try:
            signature = base64.b64decode(text(message.get("Signature")), validate=True)
            key.verify(signature, canonical(message), padding.PKCS1v15(), algorithm())
        except (ValueError, InvalidSignature):
            raise Forbidden("the SNS signature does not verify") from None
        check_age(_epoch(text(message.get("Timestamp"))))

    def replay_key(self, headers: Headers, body: bytes) -> str | None:
        message = body_object(self, body)
        return f"{text(message.get('TopicArn'))}/{text(message.get('MessageId'))}"

    def handshake(self, body: bytes) -> str | None:
        message = body_object(self, body)
        kind = text(message.get("Type"))
        if kind == "Notification":
            return None
        topic = text(message.get("TopicArn"))
        url = text(message.get("SubscribeURL"))
        if kind == "UnsubscribeConfirmation":
            log.warning("SNS: this endpoint was unsubscribed from %s", topic)
            return "unsubscribed"
        if self._confirm is None:
            log.warning("SNS: subscription to %s not confirmed (MAILER_SES_CONFIRM_SUBSCRIPTIONS "
                        "is off); to confirm it, open %s", topic, url)
            return "subscription logged for the operator"
        if not sns_url(url):
            raise Forbidden("SubscribeURL is not an https URL on an SNS host")
        self._confirm(url)
        log.warning("SNS: subscription to %s confirmed", topic)
        return "subscription confirmed"

    def events(self, body: bytes) -> list[ProviderEvent]:
        notification = self.json(text(body_object(self, body).get("Message")).encode())
        return ses_events(as_dict(notification))


def canonical(message: dict[str, Any]) -> bytes:
    """The string SNS signs: each field present of the type's list, `Name\\nvalue\\n`."""
    names = _TYPES.get(text(message.get("Type")), ())
    return "".join(f"{name}\n{message[name]}\n" for name in names
                   if isinstance(message.get(name), str)).encode()


def _epoch(timestamp: str) -> int:
    try:
        return int(datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp())
    except ValueError:
        raise Forbidden("the SNS Timestamp is not a time") from None


_HARD_SUBTYPES = {"General", "NoEmail", "Suppressed", "OnAccountSuppressionList"}
_CONTENT_SUBTYPES = {"ContentRejected", "AttachmentRejected", "MessageTooLarge"}
_Context = tuple[str, str]  # the envelope sender and SES's message id


def ses_events(notification: dict[str, Any]) -> list[ProviderEvent]:
    """A notification (`notificationType`) or an event publishing record (`eventType`)."""
    kind = text(notification.get("notificationType") or notification.get("eventType"))
    mail = as_dict(notification.get("mail"))
    context = parseaddr(text(mail.get("source")))[1], text(mail.get("messageId"))
    if kind == "Bounce":
        return _bounces(as_dict(notification.get("bounce")), context)
    if kind == "Complaint":
        return _complaints(as_dict(notification.get("complaint")), context)
    if kind == "DeliveryDelay":
        return _delays(as_dict(notification.get("deliveryDelay")), context)
    if kind == "Subscription":
        return _subscription(as_dict(notification.get("subscription")), mail, context)
    return []


def _bounces(bounce: dict[str, Any], context: _Context) -> list[ProviderEvent]:
    kind_of, subtype = text(bounce.get("bounceType")), text(bounce.get("bounceSubType"))
    permanent = kind_of == "Permanent" and (subtype in _HARD_SUBTYPES or not subtype)
    found: list[ProviderEvent] = []
    for person in map(as_dict, as_list(bounce.get("bouncedRecipients"))):
        words = text(person.get("diagnosticCode")) or f"{kind_of} {subtype}".strip()
        status = status_in(text(person.get("status")), words)
        delayed = text(person.get("action")) == "delayed" or (status or "").startswith("4")
        found += single("bounce", person.get("emailAddress"), hard=permanent and not delayed,
                        status=status, diagnostic=words, blames_us=subtype in _CONTENT_SUBTYPES
                        or (status or "").startswith("5.7"),
                        return_path=context[0], reference=context[1])
    return found


def _complaints(complaint: dict[str, Any], context: _Context) -> list[ProviderEvent]:
    if text(complaint.get("complaintFeedbackType")) == "not-spam":
        return []
    return [found for person in map(as_dict, as_list(complaint.get("complainedRecipients")))
            for found in single("complaint", person.get("emailAddress"),
                                return_path=context[0], reference=context[1])]


def _delays(delay: dict[str, Any], context: _Context) -> list[ProviderEvent]:
    found: list[ProviderEvent] = []
    for person in map(as_dict, as_list(delay.get("delayedRecipients"))):
        words = text(person.get("diagnosticCode")) or text(delay.get("delayType"))
        found += single("delay", person.get("emailAddress"),
                        status=status_in(text(person.get("status")), words),
                        diagnostic=words, return_path=context[0], reference=context[1])
    return found


def _subscription(change: dict[str, Any], mail: dict[str, Any], context: _Context
                  ) -> list[ProviderEvent]:
    recipients = as_list(mail.get("destination"))
    if as_dict(change.get("newTopicPreferences")).get("unsubscribeAll") is not True \
            or len(recipients) != 1:
        return []
    return single("unsubscribe", recipients[0], return_path=context[0], reference=context[1])
