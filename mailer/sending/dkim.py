"""DKIM signing (RFC 6376), relaxed/relaxed: rsa-sha256, and with a second key
ed25519-sha256 (RFC 8463) beside it, RSA's header first. A receiver that does not know
Ed25519 ignores that signature (RFC 6376 6.1) and the RSA one carries the message.

The signatures are made by OpenSSL through `cryptography`: 0.7 ms for RSA-2048 here,
against about 10 ms for dkimpy's pure-Python RSA; Ed25519 takes 0.04 ms. Everything
else is `mailer.sending.canonical`'s, tens of microseconds a digest. The tests verify
every kind of message with dkimpy's own verifier, and the Ed25519 signatures by RFC
8463's procedure against its published example.

`mailer/sending/backends/dkim.py` signs every message on its way to the inner backend,
so shares, confirmations and digests are all signed in one place.
"""

from __future__ import annotations

import base64
import hashlib
import time
from dataclasses import dataclass, replace
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from mailer.errors import ConfigError
from mailer.sending.canonical import relaxed_body, relaxed_headers, relaxed_value
from mailer.sending.message import Envelope
from mailer.sending.mime import undot

# Signed when present; From is listed twice so that a second From cannot be added
# unseen (an h= name without an instance left signs its absence).
SIGNED = (b"from", b"from", b"to", b"subject", b"date", b"message-id", b"reply-to",
          b"list-unsubscribe", b"list-unsubscribe-post", b"list-id", b"mime-version",
          b"content-type")
_SIGNED_NAMES = frozenset(SIGNED)
_PKCS1, _SHA256 = padding.PKCS1v15(), hashes.SHA256()

PrivateKey = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


@dataclass(frozen=True)
class DkimKey:
    """One key and the tags its signatures start with (the same for every message)."""

    key: PrivateKey
    tags: bytes  # v=, a=, c=, d=, s=

    @staticmethod
    def of(key: PrivateKey, domain: str, selector: str) -> DkimKey:
        algorithm = "ed25519-sha256" if isinstance(key, ed25519.Ed25519PrivateKey) \
            else "rsa-sha256"
        return DkimKey(key, f"v=1; a={algorithm}; c=relaxed/relaxed; d={domain}; "
                            f"s={selector}".encode())

    def sign(self, data: bytes) -> bytes:
        """The signature of the canonical header data (RFC 6376 3.7)."""
        if isinstance(self.key, ed25519.Ed25519PrivateKey):
            # RFC 8463 3: PureEdDSA over the data's SHA-256, not over the data.
            return self.key.sign(hashlib.sha256(data).digest())
        return self.key.sign(data, _PKCS1, _SHA256)


@dataclass(frozen=True)
class DkimSigner:
    domain: str
    keys: tuple[DkimKey, ...]  # RSA first: its header goes on top

    def signature(self, head: bytes, body_hash: bytes) -> bytes:
        """The DKIM-Signature headers (folded, CRLF-terminated) for a message whose
        header section (as the reader gets it, no blank line) is `head` and whose
        relaxed body has the SHA-256 `body_hash`."""
        # Each name signs its last unused instance, from the bottom up (RFC 6376 5.4.2).
        remaining: dict[bytes, list[bytes]] = {}
        for name, value in relaxed_headers(head, _SIGNED_NAMES):
            remaining.setdefault(name, []).append(value)
        signed, hashed = [], []
        for name in SIGNED:
            values = remaining.get(name)
            if values is not None:
                signed.append(name)
            if values:
                hashed.append(name + b":" + values.pop() + b"\r\n")
        common = (b"; t=" + str(int(time.time())).encode() + b";\r\n h=" + b":".join(signed)
                  + b";\r\n bh=" + base64.b64encode(body_hash) + b";\r\n b=")
        headers = b"".join(hashed)
        out = []
        for key in self.keys:
            tags = key.tags + common
            value = base64.b64encode(key.sign(
                headers + b"dkim-signature:" + relaxed_value(tags.replace(b"\r\n", b""))))
            lines = [value[i:i + 72] for i in range(0, len(value), 72)]
            out.append(b"DKIM-Signature: " + tags + b"\r\n ".join(lines) + b"\r\n")
        return b"".join(out)

    def signed(self, data: bytes, *, dotted: bool,
               body: tuple[int, bytes] | None = None) -> bytes:
        """`data` with its signatures on top. `dotted`: it is dot-stuffed (SMTP's wire
        form) and the signatures are of the message it stands for; `body`: where the
        body begins and its relaxed hash, if known (checked against `data`)."""
        split = data.find(b"\r\n\r\n")
        head = data if split < 0 else data[:split]
        if body is not None and split >= 0 and body[0] == split + 4:
            body_hash = body[1]
        else:
            text = b"" if split < 0 else data[split + 4:]
            if dotted:  # a CRLF comes before the body in the message
                text = undot(b"\r\n" + text)[2:]
            body_hash = hashlib.sha256(relaxed_body(text)).digest()
        return self.signature(undot(head) if dotted else head, body_hash) + data

    def sign(self, envelope: Envelope) -> Envelope:
        """Signed as it is, and, only if a relay without 8BITMIME asks for it, as its
        7-bit form: a signature over the 8bit body would not verify once re-encoded."""
        dotted = envelope.wire_ready
        known = envelope.relaxed_body_hash() if envelope.relaxed_body_hash else None
        return replace(envelope, message=self.signed(envelope.as_bytes(), dotted=dotted,
                                                     body=known),
                       seven_bit=lambda: self.signed(envelope.as_7bit(), dotted=dotted),
                       relaxed_body_hash=None)


def load_signer(key_file: Path, domain: str, selector: str,
                ed25519_key_file: Path | None = None, ed25519_selector: str = "") -> DkimSigner:
    """The RSA key, and the Ed25519 key beside it if one is given."""
    keys = [DkimKey.of(_read_key(key_file, "MAILER_DKIM_KEY_FILE", rsa.RSAPrivateKey),
                       domain, selector)]
    if ed25519_key_file is not None:
        if ed25519_selector == selector:
            raise ConfigError("MAILER_DKIM_ED25519_SELECTOR: must differ from "
                              "MAILER_DKIM_SELECTOR (each key has its own DNS record)")
        keys.append(DkimKey.of(_read_key(ed25519_key_file, "MAILER_DKIM_ED25519_KEY_FILE",
                                         ed25519.Ed25519PrivateKey), domain, ed25519_selector))
    return DkimSigner(domain, tuple(keys))


def _read_key(path: Path, setting: str, kind: type[PrivateKey]) -> PrivateKey:
    name = "an RSA" if kind is rsa.RSAPrivateKey else "an Ed25519"
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigError(f"{setting}: cannot read {name} private key from {path}: "
                          f"{exc}") from None
    if not isinstance(key, kind):
        raise ConfigError(f"{setting}: {path} is not {name} private key")
    if isinstance(key, rsa.RSAPrivateKey) and key.key_size < 1024:
        raise ConfigError(f"{setting}: must be an RSA key of at least 1024 bits "
                          "(2048 recommended)")
    return key


def generate_key(bits: int = 2048, algorithm: str = "rsa") -> tuple[bytes, str]:
    """A new private key (PEM) and the value of its DNS TXT record; `bits` for RSA."""
    key: PrivateKey
    if algorithm == "ed25519":
        key = ed25519.Ed25519PrivateKey.generate()
        # RFC 8463 4.2: the bare 32-byte key, not a SubjectPublicKeyInfo as for RSA.
        public = key.public_key().public_bytes(serialization.Encoding.Raw,
                                               serialization.PublicFormat.Raw)
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        public = key.public_key().public_bytes(serialization.Encoding.DER,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    kind = "ed25519" if algorithm == "ed25519" else "rsa"
    return pem, f"v=DKIM1; k={kind}; p={base64.b64encode(public).decode()}"


def txt_record(selector: str, domain: str, value: str) -> str:
    """The zone-file line; long values split into 255-byte strings as DNS needs."""
    chunks = [value[i:i + 255] for i in range(0, len(value), 255)]
    return f'{selector}._domainkey.{domain}. IN TXT ( ' + " ".join(
        f'"{c}"' for c in chunks) + " )"

