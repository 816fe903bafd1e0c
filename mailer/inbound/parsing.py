"""A returned message read once, with bounded work, into the pieces the classifiers
look at. Hostile mail (issue 23, part 7) is why every step has a limit and nothing here
raises: a bounce storm can carry anything, and one bad message must not stop the rest."""

from __future__ import annotations

import contextlib
import email
import email.header
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32

# compat32 rather than the default policy: measured on the corpus and on mangled copies
# of it, the default policy raises on header access for broken encoded words and
# addresses that compat32 returns as text.
MAX_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 20
MAX_PARTS = 200
MAX_TEXT = 256 * 1024
_TAGS = re.compile(r"<[^>]{0,2000}>")
_ENTITIES = {"&nbsp;": " ", "&lt;": "<", "&gt;": ">", "&amp;": "&", "&quot;": '"'}
_ENTITY = re.compile("|".join(_ENTITIES))


@dataclass
class Parsed:
    """The pieces of one message: its own headers, what it says to a person, the
    machine-readable reports in it and the headers of the message it returns."""

    headers: dict[str, str]
    texts: list[str] = field(default_factory=list)
    dsn_texts: list[str] = field(default_factory=list)
    feedback_texts: list[str] = field(default_factory=list)
    original_headers: dict[str, str] = field(default_factory=dict)
    original_text: str = ""
    forwarded_dsn_texts: list[str] = field(default_factory=list)
    content_type: str = "text/plain"


def parse(raw: bytes) -> Parsed:
    """The pieces of `raw`, from at most its first MAX_BYTES."""
    data = bytes(raw[:MAX_BYTES])
    try:
        message = email.message_from_bytes(data, policy=compat32)
    except Exception:  # RecursionError on absurd nesting, or anything else: headers only
        message = BytesHeaderParser(policy=compat32).parsebytes(data)
    parsed = Parsed(headers=headers_of(message), content_type=_content_type(message))
    with contextlib.suppress(Exception):  # a part that defeats the parser: keep the rest
        _collect(message, parsed)
    if not (parsed.texts or parsed.dsn_texts or parsed.feedback_texts):
        # MIME too broken to find a text part in (a boundary on a line of its own):
        # the body as text still names the recipient.
        parsed.texts.append(_decode(data.partition(b"\n\n")[2], "utf-8")[:MAX_TEXT])
    return parsed


def header_text(value: object) -> str:
    """A header's value as text: encoded words decoded, bad bytes replaced, unfolded."""
    try:
        parts = email.header.decode_header(str(value))
        text = "".join(_decode(chunk, charset or "ascii") if isinstance(chunk, bytes)
                       else chunk for chunk, charset in parts)
    except Exception:
        text = str(value)
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return " ".join(text.split())


def headers_of(message: Message) -> dict[str, str]:
    """The first value of each header, by lower-cased name."""
    found: dict[str, str] = {}
    try:
        items = message.items()
    except Exception:
        return found
    for name, value in items[:500]:
        key = str(name).strip().lower()
        if key not in found:
            found[key] = header_text(value)
    return found


def parse_headers(text: str) -> dict[str, str]:
    """Header lines in plain text (text/rfc822-headers, a quoted original)."""
    message = email.message_from_string(text[:MAX_TEXT], policy=compat32)
    return headers_of(message)


def _content_type(message: Message) -> str:
    try:
        return message.get_content_type()
    except Exception:
        return "text/plain"


def _walk(message: Message, depth: int = 0) -> Iterator[tuple[Message, int]]:
    yield message, depth
    if depth >= MAX_DEPTH or not message.is_multipart():
        return
    payload = message.get_payload()
    if not isinstance(payload, list):
        return
    for part in payload:
        if isinstance(part, Message):
            yield from _walk(part, depth + 1)


def _collect(message: Message, parsed: Parsed) -> None:
    inside_original: set[int] = set()
    for count, (part, _depth) in enumerate(_walk(message)):
        if count >= MAX_PARTS:
            break
        if id(part) in inside_original:
            continue
        kind = _content_type(part)
        if kind in ("message/rfc822", "message/global") and part is not message:
            _take_original(part, parsed, inside_original)
        elif kind in ("text/rfc822-headers", "message/global-headers",
                      "text/rfc822-header"):
            if not parsed.original_headers:
                parsed.original_headers = parse_headers(_text_of(part))
        elif kind in ("message/delivery-status", "message/global-delivery-status"):
            parsed.dsn_texts.append(_report_text(part))
        elif kind.endswith("/feedback-report"):  # message/, or text/ as some loops write
            parsed.feedback_texts.append(_report_text(part))
        elif kind.startswith("text/") and not part.is_multipart():
            text = _text_of(part)
            parsed.texts.append(_strip_html(text) if kind == "text/html" else text)


def _take_original(part: Message, parsed: Parsed, inside: set[int]) -> None:
    payload = part.get_payload()
    inner = payload[0] if isinstance(payload, list) and payload else None
    if isinstance(inner, Message):
        for sub, _depth in _walk(inner):
            inside.add(id(sub))
            if _content_type(sub) == "message/delivery-status":
                parsed.forwarded_dsn_texts.append(_report_text(sub))
        if not parsed.original_headers:
            parsed.original_headers = headers_of(inner)
            parsed.original_text = _first_text(inner)
    elif isinstance(payload, str) and not parsed.original_headers:
        parsed.original_headers = parse_headers(payload)


def _first_text(message: Message) -> str:
    for part, _depth in _walk(message):
        if _content_type(part).startswith("text/") and not part.is_multipart():
            return _text_of(part)
    return ""


def _report_text(part: Message) -> str:
    """The fields of a report part as text, whatever the parser made of them (compat32
    reads delivery-status as a list of header blocks; an encoded one stays a string)."""
    payload = part.get_payload()
    if isinstance(payload, list):
        blocks = []
        for block in payload:
            if isinstance(block, Message):
                blocks.append("\n".join(f"{k}: {header_text(v)}" for k, v in block.items()))
        return "\n\n".join(blocks)
    return _text_of(part)


def _text_of(part: Message) -> str:
    try:
        body = part.get_payload(decode=True)
    except Exception:
        body = None
    if not isinstance(body, bytes):
        payload = part.get_payload()
        return payload[:MAX_TEXT] if isinstance(payload, str) else ""
    try:
        charset = part.get_content_charset() or "utf-8"
    except Exception:
        charset = "utf-8"
    return _decode(body[:MAX_TEXT], charset)


def _decode(data: bytes, charset: str) -> str:
    try:
        text = data.decode(charset, "replace")
    except (LookupError, ValueError, TypeError):
        text = data.decode("utf-8", "replace")
    if "\ufffd" in text and charset.lower() in ("us-ascii", "ascii"):
        text = data.decode("utf-8", "replace")
    return text


def _strip_html(text: str) -> str:
    text = re.sub(r"(?i)<br\s*/?>|</p>|</div>|</tr>", "\n", text)
    return _ENTITY.sub(lambda m: _ENTITIES[m.group(0)], _TAGS.sub(" ", text))
