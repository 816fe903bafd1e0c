"""RFC 8463's check of an ed25519-sha256 DKIM signature, made here from `cryptography`
and dkimpy's parsing and canonicalisation (not ours): dkimpy verifies Ed25519 only with
PyNaCl, which this project does not install. The RFC's own signed example (Appendix A)
holds this check to the standard."""

from __future__ import annotations

import base64
import hashlib
import re

import dkim
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from dkim.canonicalization import Relaxed
from dkim.util import parse_tag_value

# RFC 8463 Appendix A: the keys (A.1, A.2) and the message signed with both (A.3).
EXAMPLE_SEED = "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A="
EXAMPLE_ED25519 = "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
EXAMPLE_RSA = ("v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3"
               "idY6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR"
               "+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDA"
               "QAB")
EXAMPLE = b"\r\n".join([
    b"DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;",
    b" d=football.example.com; i=@football.example.com;",
    b" q=dns/txt; s=brisbane; t=1528637909; h=from : to :",
    b" subject : date : message-id : from : subject : date;",
    b" bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;",
    b" b=/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11Bus",
    b" Fa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw==",
    b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;",
    b" d=football.example.com; i=@football.example.com;",
    b" q=dns/txt; s=test; t=1528637909; h=from : to : subject :",
    b" date : message-id : from : subject : date;",
    b" bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;",
    b" b=F45dVWDfMbQDGHJFlXUNB2HKfbCeLRyhDXgFpEL8GwpsRe0IeIixNTe3",
    b" DhCVlUrSjV4BwcVcOF6+FF3Zo9Rpo1tFOeS9mPYQTnGdaSGsgeefOsk2Jz",
    b" dA+L10TeYt9BgDfQNZtKdN1WO//KgIqXP7OdEFE4LjFYNcUxZQ4FADY+8=",
    b"From: Joe SixPack <joe@football.example.com>",
    b"To: Suzie Q <suzie@shopping.example.net>",
    b"Subject: Is dinner ready?",
    b"Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)",
    b"Message-ID: <20030712040037.46341.5F8J@football.example.com>",
    b"",
    b"Hi.",
    b"",
    b"We lost the game.  Are you hungry yet?",
    b"",
    b"Joe.",
    b""])


def signed_data(message: bytes, index: int) -> tuple[dict[bytes, bytes], bytes, bytes]:
    """The `index`th DKIM-Signature's tags, the data it signs (RFC 6376 3.7: the signed
    header fields, then the signature's own with b= empty and no CRLF, all relaxed) and
    the message's relaxed body."""
    headers, body = dkim.rfc822_parse(message)
    name, value = [(n, v) for n, v in headers if n.lower() == b"dkim-signature"][index]
    tags = parse_tag_value(value)
    names = [n.lower() for n in re.split(rb"\s*:\s*", tags[b"h"].strip())]
    fields = Relaxed.canonicalize_headers(dkim.select_headers(headers, names))
    [(own, unsigned)] = Relaxed.canonicalize_headers([(name, dkim.RE_BTAG.sub(rb"\1", value))])
    data = b"".join(n + b":" + v for n, v in fields) + own + b":" + unsigned.rstrip(b"\r\n")
    return tags, data, Relaxed.canonicalize_body(body)


def verify_ed25519(message: bytes, record: str, index: int) -> bool:
    """RFC 8463 3: the Ed25519 signature is over the SHA-256 of the signed data; the
    record's p= is the bare 32-byte public key (4.2)."""
    tags, data, body = signed_data(message, index)
    if tags[b"a"] != b"ed25519-sha256" or tags[b"c"] != b"relaxed/relaxed":
        return False
    if base64.b64decode(tags[b"bh"]) != hashlib.sha256(body).digest():
        return False
    key = parse_tag_value(record.encode())
    assert key[b"k"] == b"ed25519"
    public = Ed25519PublicKey.from_public_bytes(base64.b64decode(key[b"p"]))
    try:
        public.verify(base64.b64decode(re.sub(rb"\s+", b"", tags[b"b"])),
                      hashlib.sha256(data).digest())
    except InvalidSignature:
        return False
    return True
