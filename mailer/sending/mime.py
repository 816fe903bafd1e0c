"""MIME by hand, for the messages we send most: headers folded and encoded once, two
8bit UTF-8 parts in multipart/alternative, CRLF line ends, dot-stuffed for SMTP.

Building an EmailMessage costs milliseconds a message (its header registry parses
every value back); these few functions cost tens of microseconds. Tests parse what they
write with the standard library's parser to hold them to the RFCs.
"""

from __future__ import annotations

import base64
import binascii
import re
from uuid import uuid4

from mailer.slots import SlotTemplate


def checked(value: str) -> str:
    """Header values never carry line breaks, whatever validation let through."""
    if "\r" in value or "\n" in value:
        raise ValueError("line break in a header value")
    return value


LINE = 78  # RFC 5322 2.1.1: lines SHOULD be at most 78 characters, MUST be at most 998
_WORD_OVERHEAD = len("=?utf-8?b??=")
_LINE_END = re.compile(r"\r\n?|\n")


def fold(name: str, value: str) -> bytes:
    """`Name: value` CRLF for unstructured text (Subject), never losing, adding or
    changing a character: plain ASCII is folded at its spaces (unfolding gives it back);
    anything else (not ASCII, text a reader might take for an RFC 2047 encoded word,
    white space at an end, a word no fold could keep under 998) is encoded words,
    each carrying its own spaces."""
    checked(value)
    if _foldable(value):
        return _fold_at_spaces(f"{name}: ", value)
    prefix = f"{name}: "
    return (prefix + encoded_words(value, first=_room(len(prefix)))).encode() + b"\r\n"


def _foldable(value: str) -> bool:
    return (value.isascii() and value.isprintable() and "=?" not in value
            and value == value.strip() and max(map(len, value.split(" ")), default=0) < 900)


def _room(used: int) -> int:
    """UTF-8 octets one encoded word may carry on a line already `used` long."""
    return max(3, (LINE - used - _WORD_OVERHEAD) // 4 * 3)


def _fold_at_spaces(prefix: str, value: str) -> bytes:
    """Fold before a space (the space stays, as the next line's first character), at
    the start of a run of spaces so no line ends in white space. Lines are counted in
    octets (RFC 6532: a UTF-8 header's limits are octets)."""
    lines: list[str] = []
    line = prefix + value
    start = len(prefix) + 1
    while len(line.encode()) > LINE:
        limit = _chars_within(line, LINE)
        cut = line.rfind(" ", start, limit + 1)
        while cut > start and line[cut - 1] == " ":
            cut -= 1
        if cut <= start or line[cut - 1] == " ":
            cut = line.find(" ", limit + 1)  # a long word: fold after it instead
            while cut > 0 and line[cut - 1] == " ":
                cut -= 1
            if cut <= start:
                break
        lines.append(line[:cut])
        line = line[cut:]
        start = 1
    lines.append(line)
    return ("\r\n".join(lines) + "\r\n").encode()


def _chars_within(text: str, octets: int) -> int:
    """How many of `text`'s first characters fit in `octets` of UTF-8."""
    if text.isascii():
        return min(len(text), octets)
    used = 0
    for index, char in enumerate(text):
        used += len(char.encode())
        if used > octets:
            return index
    return len(text)


def address_header(header: str, name: str, address: str, *, utf8: bool = False) -> bytes:
    """`To: "Name" <address>` CRLF (also List-Id's `"phrase" <id>`). An ASCII name is
    a quoted string; any other is RFC 2047 encoded words, or UTF-8 where the message
    goes with SMTPUTF8, as is the address itself. A name that holds text shaped like
    an encoded word is encoded too, so no reader decodes it into another name."""
    checked(address)
    prefix = f"{header}: "
    if not name:
        return f"{prefix}{address}\r\n".encode()
    checked(name)
    if "=?" not in name and (utf8 or name.isascii()) and name.isprintable():
        quoted = name.replace("\\", "\\\\").replace('"', '\\"')
        return _fold_at_spaces(prefix, f'"{quoted}" <{address}>')
    words = encoded_words(name, first=_room(len(prefix)))
    last = words.rpartition("\r\n ")[2] if "\r\n" in words else prefix + words
    joint = "\r\n " if len(last) + len(address) + 3 > LINE else " "
    return f"{prefix}{words}{joint}<{address}>\r\n".encode()


def encoded_words(text: str, limit: int = 45, first: int | None = None) -> str:
    """RFC 2047 'B' encoded words of at most `limit` octets of UTF-8 each (`first` for
    the first one, which shares its line with the header's name), split after a space
    where one is near, never inside a character, one per line. The white space between
    encoded words is not part of the text (RFC 2047 6.2): each word carries its own
    spaces."""
    words: list[bytes] = []
    current = b""
    room = limit if first is None else first
    for char in text:
        octets = char.encode()
        if current and len(current) + len(octets) > room:
            cut = current.rfind(b" ") + 1
            if cut < room // 2:
                cut = len(current)
            words.append(current[:cut])
            current = current[cut:]
            room = limit
        current += octets
    words.append(current)
    return "\r\n ".join(f"=?utf-8?b?{base64.b64encode(w).decode()}?=" for w in words)


def short_lines(document: str, limit: int = 900) -> str:
    """SMTP lines stop at 998 octets; inlined HTML and long paragraphs run longer.
    Break long lines between tags, else at a space (a line break there renders as
    the space it replaces, in HTML and in plain text alike). CRLF line ends. A run of
    more than `limit` octets with neither (a very long URL) is left for `alternative`
    to encode. CRLF and a bare CR (which SMTP forbids, and an article's HTML may hold)
    are line ends like LF."""
    out = []
    for line in _LINE_END.split(document):
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
    encoded = binascii.b2a_qp(_LINE_END.sub("\n", body).encode("utf-8"), istext=True)
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


def undot(data: bytes) -> bytes:
    """The message a wire-ready (dot-stuffed) one stands for."""
    return data.replace(b"\r\n..", b"\r\n.")


_HEADER_LINE = re.compile(rb"(?im)^content-transfer-encoding:[^\r\n]*(?:\r\n[ \t][^\r\n]*)*")
_UNFOLD = re.compile(rb"\r\n(?=[ \t])")


def _header(head: bytes, name: bytes) -> bytes:
    found = re.search(rb"(?im)^" + name + rb":[ \t]*([^\r\n]*)", _UNFOLD.sub(b"", head))
    return found.group(1).strip() if found else b""


def seven_bit(message: bytes, *, slots: bool = False) -> bytes:
    """The same message in 7-bit (CRLF, not dot-stuffed), for a relay without 8BITMIME:
    every 8bit or binary leaf part is re-encoded, quoted-printable for text and base64
    for anything else; multipart structure, headers and every other byte stay as they
    are. Headers are ASCII already unless the message goes with SMTPUTF8, which implies
    8BITMIME.

    `slots`: the message is a template (a digest's); each slot marker in a text part
    becomes `qp_NAME` on a line of its own between soft line breaks, for a value that
    `qp_value` encodes when the template is filled."""
    head, sep, body = message.partition(b"\r\n\r\n")
    if not sep:
        return message
    ctype = _header(head, b"content-type")
    boundary = re.search(rb'(?i)\bboundary="?([^";\r\n]+)"?', ctype)
    if ctype.lower().startswith(b"multipart/") and boundary:
        delimiter = b"\r\n--" + boundary.group(1).strip()
        pieces = (b"\r\n" + body).split(delimiter)
        out = [pieces[0][2:]]
        for piece in pieces[1:]:
            line_end = piece.find(b"\r\n")
            if piece.startswith(b"--") or line_end < 0:
                out.append(piece)  # the close delimiter and the epilogue
                continue
            out.append(piece[:line_end + 2] + seven_bit(piece[line_end + 2:], slots=slots))
        return head + sep + delimiter.join(out)
    encoding = _header(head, b"content-transfer-encoding").lower()
    if encoding in (b"7bit", b"quoted-printable", b"base64") or \
            (not encoding and body.isascii()):
        return message
    if ctype.lower().startswith(b"text/") or not ctype:
        new = b"quoted-printable"
        body = _qp_template(body) if slots else _qp(body)
    else:
        new = b"base64"
        body = base64.encodebytes(body).replace(b"\n", b"\r\n")
    line = b"Content-Transfer-Encoding: " + new
    head, found = _HEADER_LINE.subn(line, head, count=1)
    if not found:
        head += b"\r\n" + line
    return head + sep + body


_QP_LINE = 73  # encoded characters on a value's line, before its soft break


def _qp(body: bytes) -> bytes:
    return binascii.b2a_qp(body.replace(b"\r\n", b"\n"), istext=True).replace(b"\n", b"\r\n")


def _qp_template(body: bytes) -> bytes:
    pieces = SlotTemplate.of(body).pieces
    out = []
    for index, piece in enumerate(pieces):
        if index % 2:
            out.append(b"%%slot:qp_" + piece + b"%%=\r\n")
            continue
        encoded = _qp(piece)
        if index + 1 < len(pieces):  # a slot follows: its value starts a line
            encoded = _soft_break_after(encoded)
        out.append(encoded)
    return b"".join(out)


def _soft_break_after(encoded: bytes) -> bytes:
    """End with a soft line break (`=` CRLF), keeping the last line within 76."""
    start = encoded.rfind(b"\r\n") + 2
    if len(encoded) - start > _QP_LINE:
        cut = start + _QP_LINE - 3
        escape = encoded.find(b"=", cut - 2, cut)  # never inside an =XX escape
        cut = escape if escape >= 0 else cut
        encoded = encoded[:cut] + b"=\r\n" + encoded[cut:]
    return encoded + b"=\r\n"


def qp_value(value: bytes) -> bytes:
    """A slot's value for a `seven_bit(..., slots=True)` template: quoted-printable on
    lines of its own (soft breaks within 76), never starting a line with a dot."""
    encoded = binascii.b2a_qp(value, quotetabs=True).replace(b"=\n", b"")
    lines = []
    start = 0
    while len(encoded) - start > _QP_LINE:
        cut = start + _QP_LINE
        escape = encoded.find(b"=", cut - 2, cut)  # never inside an =XX escape
        cut = escape if escape >= 0 else cut
        lines.append(encoded[start:cut])
        start = cut
    lines.append(encoded[start:])
    return b"=\r\n".join(b"=2E" + line[1:] if line.startswith(b".") else line
                          for line in lines)
