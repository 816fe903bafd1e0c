"""MIME by hand, for the messages we send most: headers folded and encoded once, two
8bit UTF-8 parts in multipart/alternative, CRLF line ends, dot-stuffed for SMTP.

Building an EmailMessage costs milliseconds a message (its header registry parses
every value back); these few functions cost tens of microseconds. Tests parse what they
write with the standard library's parser to hold them to the RFCs.
"""

from __future__ import annotations

import base64
import binascii
from email import policy
from uuid import uuid4


def checked(value: str) -> str:
    """Header values never carry line breaks, whatever validation let through."""
    if "\r" in value or "\n" in value:
        raise ValueError("line break in a header value")
    return value


def fold(name: str, value: str) -> bytes:
    """`Name: value` CRLF, folded at 78 and RFC 2047-encoded where not ASCII. (The
    policy's own `fold` of a plain string neither encodes nor folds a short value: it
    has to be a header object.)"""
    checked(value)
    if value.isascii() and len(name) + len(value) < 76:
        return f"{name}: {value}\r\n".encode()
    return policy.SMTP.header_factory(name, value).fold(policy=policy.SMTP).encode("ascii")


def address_header(header: str, name: str, address: str, *, utf8: bool = False) -> bytes:
    """`To: "Name" <address>` CRLF. An ASCII name is quoted; any other is RFC 2047-
    encoded by the standard library (slower, and only for those names), or sent as
    UTF-8 where the message goes with SMTPUTF8, as is the address itself."""
    checked(address)
    if not name:
        return f"{header}: {address}\r\n".encode()
    if checked(name).isascii() or utf8:
        quoted = name.replace("\\", "\\\\").replace('"', '\\"')
        return f'{header}: "{quoted}" <{address}>\r\n'.encode()
    return f"{header}: {encoded_words(name)} <{address}>\r\n".encode()


def encoded_words(text: str, limit: int = 45) -> str:
    """RFC 2047 'B' encoded words of at most `limit` octets of UTF-8 each (75
    characters encoded), split after a space where one is near, never inside a
    character, one per line. The white space between encoded words is not part of the
    text (RFC 2047 6.2): each word carries its own spaces."""
    words: list[bytes] = []
    current = b""
    for char in text:
        octets = char.encode()
        if len(current) + len(octets) > limit:
            cut = current.rfind(b" ") + 1
            if cut < limit // 2:
                cut = len(current)
            words.append(current[:cut])
            current = current[cut:]
        current += octets
    words.append(current)
    return "\r\n ".join(f"=?utf-8?b?{base64.b64encode(w).decode()}?=" for w in words)


def short_lines(document: str, limit: int = 900) -> str:
    """SMTP lines stop at 998 octets; inlined HTML and long paragraphs run longer.
    Break long lines between tags, else at a space (a line break there renders as
    the space it replaces, in HTML and in plain text alike). CRLF line ends. A run of
    more than `limit` octets with neither (a very long URL) is left for `alternative`
    to encode."""
    out = []
    for line in document.split("\n"):
        while len(line.encode()) > limit:
            window = line.encode()[:limit].decode(errors="ignore")
            cut = window.rfind("><") + 1
            if cut > 0:
                out.append(line[:cut])
                line = line[cut:]
                continue
            space = window.rfind(" ")
            if space <= 0:
                break
            out.append(line[:space])
            line = line[space + 1:]
        out.append(line)
    return "\r\n".join(out)


def _part(kind: str, body: str, encode_long: bool) -> bytes:
    head = f"Content-Type: text/{kind}; charset=\"utf-8\"\r\n"
    lines = short_lines(body)
    data = lines.encode("utf-8")
    if max(len(line) for line in data.split(b"\r\n")) <= 998:
        return (head + "Content-Transfer-Encoding: 8bit\r\n\r\n").encode() + data
    if not encode_long:
        # A template with slots cannot be re-encoded per recipient: split the run.
        data = b"\r\n".join(_split_octets(line, 900) for line in data.split(b"\r\n"))
        return (head + "Content-Transfer-Encoding: 8bit\r\n\r\n").encode() + data
    encoded = binascii.b2a_qp(body.encode("utf-8").replace(b"\r\n", b"\n"), istext=True)
    return (head + "Content-Transfer-Encoding: quoted-printable\r\n\r\n").encode() + \
        encoded.replace(b"\n", b"\r\n")


def _split_octets(line: bytes, limit: int) -> bytes:
    pieces = []
    while len(line) > limit:
        cut = limit
        while cut > 0 and (line[cut] & 0xC0) == 0x80:  # not inside a UTF-8 character
            cut -= 1
        pieces.append(line[:cut])
        line = line[cut:]
    pieces.append(line)
    return b"\r\n".join(pieces)


def alternative(text: str, html: str, boundary: str | None = None,
                encode_long: bool = True) -> bytes:
    """The MIME headers and body of a text + HTML message (after the other headers).
    Parts are 8bit UTF-8; a part with a line no break can shorten (a URL of 1,000
    octets) is quoted-printable instead, or, for a template (`encode_long=False`),
    has the run split."""
    boundary = boundary or f"=_{uuid4().hex}"
    parts = b"".join(f"--{boundary}\r\n".encode() + _part(kind, body, encode_long) + b"\r\n"
                     for kind, body in (("plain", text.rstrip("\n")), ("html", html)))
    return (b"MIME-Version: 1.0\r\n"
            + f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n'.encode()
            + parts + f"--{boundary}--\r\n".encode())


def dot_stuff(data: bytes) -> bytes:
    """RFC 5321 4.5.2, for messages handed to the SMTP client as wire-ready bytes (a
    header never starts with a dot)."""
    return data.replace(b"\r\n.", b"\r\n..")
