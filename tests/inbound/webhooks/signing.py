"""The tests' own keys, made fresh, standing in for the providers': an RSA key and a
certificate for SNS, an ECDSA P-256 key for SendGrid, an HMAC key for Mailgun; and each
provider's way of signing, so the documented samples arrive as the providers send them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from mailer.inbound.webhooks.ses import canonical

SAMPLES = Path(__file__).parent / "samples"
TOPIC = "arn:aws:sns:us-west-2:123456789012:MyTopic"
CERT_URL = ("https://sns.us-west-2.amazonaws.com/"
            "SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem")
MAILGUN_KEY = "key-0123456789abcdef-webhook-signing"
POSTMARK = ("postmark-hook", "a-long-random-password-0123456789")


def sample(name: str) -> Any:
    return json.loads((SAMPLES / name).read_text(encoding="utf-8"))


class SnsSigner:
    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
        now = datetime.now(UTC)
        self.pem = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                    .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                    .not_valid_before(now - timedelta(days=1))
                    .not_valid_after(now + timedelta(days=30))
                    .sign(self.key, hashes.SHA256())
                    .public_bytes(serialization.Encoding.PEM))
        self.fetched: list[str] = []

    def fetch(self, url: str) -> bytes:
        """What the app is given instead of the network: certificates, and (for a
        subscription confirmation) the GET of the SubscribeURL."""
        self.fetched.append(url)
        return self.pem if url.endswith(".pem") else b"<ConfirmSubscriptionResponse/>"

    def sign(self, message: dict[str, Any], version: str = "1") -> dict[str, Any]:
        signed = {**message, "SignatureVersion": version, "SigningCertURL": CERT_URL,
                  "TopicArn": message.get("TopicArn", TOPIC),
                  "Timestamp": datetime.now(UTC).isoformat(timespec="milliseconds")
                  .replace("+00:00", "Z")}
        algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
        signature = self.key.sign(canonical(signed), padding.PKCS1v15(), algorithm)
        signed["Signature"] = base64.b64encode(signature).decode()
        return signed

    def notification(self, ses: dict[str, Any], version: str = "1",
                     message_id: str | None = None) -> bytes:
        """The SES sample as SNS delivers it: in the documented envelope, signed."""
        envelope = {**sample("sns-notification.json"), "Message": json.dumps(ses),
                    "TopicArn": TOPIC}
        if message_id:
            envelope["MessageId"] = message_id
        return json.dumps(self.sign(envelope, version)).encode()


class SendgridSigner:
    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        der = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        self.public = base64.b64encode(der).decode()

    def headers(self, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        signature = self.key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        return {"X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
                "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
                "content-type": "application/json"}


def mailgun_signed(payload: dict[str, Any], token: str = "a8ce0edb2dd8301dee6c2405235584e45aa9",
                   timestamp: int | None = None, key: str = MAILGUN_KEY) -> bytes:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(key.encode(), (stamp + token).encode(), hashlib.sha256).hexdigest()
    signed = {**payload, "signature": {"timestamp": stamp, "token": token, "signature": digest}}
    return json.dumps(signed).encode()


def basic(user: str, password: str) -> dict[str, str]:
    pair = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {pair}", "content-type": "application/json"}
