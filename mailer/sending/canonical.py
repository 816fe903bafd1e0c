"""DKIM's relaxed canonicalisation (RFC 6376 3.4.2, 3.4.4), at the cost of a few C-level
scans: a regular expression per line, as dkimpy does it, costs 0.7 ms on a digest, and
one over the whole body (`[ \\t]{2,}|\\t`) 0.85 ms, more than the RSA signature.

A digest is one encoded template per variant with each reader's values spliced in
(`mailer.digest.compose`). `RelaxedBody` canonicalises and hashes the template's
literal pieces once; per message it canonicalises only the values with the few bytes
around them, and hashes. The tests hold all of it to dkimpy's canonicalisation and
verifier, and the template's hash to the plain one's for any template and values.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from mailer.sending.mime import undot
from mailer.slots import SlotTemplate

_SPACES = re.compile(rb"  +")  # a literal prefix: `re` scans for it as a substring
_WSP = re.compile(rb"[ \t]+")
_FOLD = re.compile(rb"\r\n(?=[ \t])")
# The bytes that canonicalisation and un-stuffing read together with a neighbour
# (white space, line ends, dots): a text may be cut before or after any other byte,
# and each part done alone.
_SPECIAL = b" \t\r\n."


def relaxed_lines(text: bytes) -> bytes:
    """Runs of white space as one space, none at line ends; the end of the body is
    `relaxed_body`'s. Most of a message has single spaces only: then it is two scans."""
    if b"\t" in text:
        text = text.replace(b"\t", b" ")
    if b"  " in text:
        text = _SPACES.sub(b" ", text)
    return text.replace(b" \r\n", b"\r\n")


def relaxed_body(body: bytes) -> bytes:
    """RFC 6376 3.4.4: `relaxed_lines`, no empty lines at the end, and a CRLF after a
    last line without one. As dkimpy reads it where the RFC leaves room: a last line
    with no CRLF keeps its white space (one space), and a bare CR or LF is no line end."""
    body = relaxed_lines(body)
    end = len(body)
    while body.endswith(b"\r\n", 0, end):
        end -= 2
    if end == len(body):
        return body + b"\r\n" if body else b""
    return body[:end + 2] if end else b""


def relaxed_value(value: bytes) -> bytes:
    """A header field's value (after the colon), unfolded, RFC 6376 3.4.2."""
    if b"\t" in value or b"  " in value:
        value = _WSP.sub(b" ", value)
    return value.strip(b" ")


def relaxed_headers(block: bytes, names: Collection[bytes] | None = None
                    ) -> list[tuple[bytes, bytes]]:
    """RFC 6376 3.4.2 for a header section (CRLF line ends, no blank line): (lower-case
    name, value), in order; only the fields named in `names` when given (those signed)."""
    found = []
    for line in _FOLD.sub(b"", block).split(b"\r\n"):
        name, _, value = line.partition(b":")
        name = name.rstrip(b" \t").lower()
        if names is None or name in names:
            found.append((name, relaxed_value(value)))
    return found


@dataclass(frozen=True, eq=False)
class RelaxedBody:
    """The relaxed body hash of a message template, made per message from the values
    alone. Each literal piece between slots is cut at its first and last byte outside
    `_SPECIAL`; what lies between is canonicalised and hashed once, and only the joints
    (a value with the special bytes on either side of it) per message."""

    prefix: Any  # hashlib's sha256 state over the body up to the first joint
    joints: tuple[tuple[bytes, ...], ...]  # literal bytes and slot names (odd indexes)
    cores: tuple[bytes, ...]  # canonical, after each joint; the last ends the body
    head: tuple[bytes, ...]  # the header section and blank line: pieces, slot names
    dotted: bool

    @staticmethod
    def of(template: SlotTemplate[bytes], *, dotted: bool) -> RelaxedBody | None:
        """None for a template this cannot take: a slot in the blank line that ends the
        headers, or a body whose first or last piece has nothing but special bytes.
        `dotted`: the template is dot-stuffed (SMTP's wire form); the hash is the
        message's, as the reader gets it."""
        pieces = template.pieces
        split = next((i for i in range(0, len(pieces), 2) if b"\r\n\r\n" in pieces[i]), None)
        if split is None:
            return None
        before, _, first = pieces[split].partition(b"\r\n\r\n")
        head = (*pieces[:split], before + b"\r\n\r\n")
        literals = [first, *pieces[split + 2::2]]
        names = pieces[split + 1::2]

        def clean(text: bytes, *, at_start: bool = False) -> bytes:
            """Un-stuffed as in the message (where a CRLF comes before the body)."""
            if not dotted:
                return text
            return undot(b"\r\n" + text)[2:] if at_start else undot(text)

        if not names:
            return RelaxedBody(hashlib.sha256(relaxed_body(clean(first, at_start=True))),
                               (), (), head, dotted)
        cuts = [_cuts(piece) for piece in literals]
        if cuts[0] is None or cuts[-1] is None:
            return None
        # Joints stay as in the template (stuffed, if so): they are un-stuffed whole.
        joints: list[tuple[bytes, ...]] = []
        cores: list[bytes] = []
        joint = [first[cuts[0][1]:]]
        for name, piece, cut in zip(names, literals[1:], cuts[1:], strict=True):
            joint.append(name)
            if cut is None:  # nothing to cut at: the joint goes on to the next value
                joint.append(piece)
                continue
            joint.append(piece[:cut[0]])
            joints.append(tuple(joint))
            cores.append(relaxed_lines(clean(piece[cut[0]:cut[1]])))
            joint = [piece[cut[1]:]]
        # The body's end: `x` stands for the byte before it, which no rule reads.
        cores[-1] += relaxed_body(b"x" + clean(joint[0]))[1:]
        prefix = hashlib.sha256(relaxed_lines(clean(first[:cuts[0][1]], at_start=True)))
        return RelaxedBody(prefix, tuple(joints), tuple(cores), head, dotted)

    def digest(self, values: Mapping[bytes, bytes]) -> tuple[int, bytes]:
        """(where the body begins in the filled message, the SHA-256 of its relaxed
        form); the caller checks the first against the message it signs."""
        hasher = self.prefix.copy()
        for joint, core in zip(self.joints, self.cores, strict=True):
            text = b"".join([values[piece] if i % 2 else piece for i, piece in enumerate(joint)])
            hasher.update(relaxed_lines(undot(text) if self.dotted else text))
            hasher.update(core)
        start = sum(len(values[piece]) if i % 2 else len(piece)
                    for i, piece in enumerate(self.head))
        return start, hasher.digest()


def _cuts(piece: bytes) -> tuple[int, int] | None:
    """Where a literal may be cut: before its first byte outside `_SPECIAL`, after its
    last; None if it has none."""
    inner = piece.lstrip(_SPECIAL)
    if not inner:
        return None
    return len(piece) - len(inner), len(piece.rstrip(_SPECIAL))
