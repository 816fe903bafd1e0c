"""What free text from the public (names, notes) may hold: valid Unicode, nothing
invisible that changes how the rest reads, and no link or address however disguised,
since it goes out under the site's name.

Links are looked for after Unicode compatibility normalisation (NFKC: full-width
letters, dot leaders and the like become plain ones), with invisible format characters
taken out and the dots and at-signs that look like "." and "@" made into them; a bare
domain counts on any top-level domain of the Public Suffix List (the copy shipped in
the `publicsuffixlist` package: no network), as does an IP address.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache

from publicsuffixlist import PublicSuffixList

# Direction overrides, embeddings and isolates, and the marks: they reverse or reorder
# the rest of a line in the e-mail (the "Trojan Source" trick).
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
                          "\u2066\u2067\u2068\u2069")
# Zero-width (non-)joiners are part of how Persian, Indic scripts and emoji are
# written: the only invisible format characters a name or note may keep.
_JOINERS = frozenset("\u200c\u200d")
# Look-alikes of "." that NFKC leaves as they are but a reader (or a browser's address
# bar, UTS 46) takes for one; NFKC itself makes the full-width and small "@" plain.
_CONFUSABLES = str.maketrans({c: "." for c in "\u3002\uff61\ufe12\u00b7\u2027\u2219\u22c5"
                                              "\u30fb\uff65\u0701\u0702\u06d4\u2e31\u2e33"
                                              "\u16eb\u05c5\u0589\u1362\u2cf9\ua4f8"})
_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*://|\bwww\d?\.|\b(?:mailto|javascript|data):")
_ADDRESS = re.compile(r"\S@\S")
_DOMAIN = re.compile(r"(?<![\w-])(?:[\w-]+\.)+([\w-]+)")
_IPV4 = re.compile(r"(?<!\d)\d{1,3}(?:\.\d{1,3}){3}(?!\d)")
# RFC 2047 encoded words and anything a lenient mail reader might decode as one.
ENCODED_WORD_LIKE = re.compile(r"=\?.*?\?=", re.DOTALL)


@cache
def _suffixes() -> PublicSuffixList:
    """Read once per process, when first needed (about 40 ms, which a CLI command that
    checks no text should not pay)."""
    return PublicSuffixList(only_icann=True)


def check_text(value: str) -> None:
    """Raises ValueError, with a sentence for a person, for text that is not valid
    Unicode (a lone surrogate, a noncharacter) or that holds invisible characters:
    bidirectional controls, or format characters such as zero-width spaces."""
    if value.isascii():
        return  # none of those is ASCII: the fast path for most names and addresses
    for char in value:
        if _invalid(char):
            raise ValueError("contains characters that are not valid text (invalid "
                             "Unicode): please type it again")
        if char in BIDI_CONTROLS:
            raise ValueError("contains invisible characters that change the direction of "
                             "the text: please type it again without them")
        if unicodedata.category(char) == "Cf" and char not in _JOINERS:
            raise ValueError("contains invisible formatting characters (such as a "
                             "zero-width space): please type it again without them")


def valid_unicode(value: str) -> bool:
    """No lone surrogates and no noncharacters: text that can be encoded and stored."""
    return value.isascii() or not any(_invalid(c) for c in value)


def _invalid(char: str) -> bool:
    """A lone surrogate or a noncharacter (U+FDD0..U+FDEF, U+xxFFFE, U+xxFFFF)."""
    point = ord(char)
    return 0xD800 <= point <= 0xDFFF or 0xFDD0 <= point <= 0xFDEF or point & 0xFFFE == 0xFFFE


def has_link(text: str) -> bool:
    """A link, a web or e-mail address, a bare domain on any TLD or an IPv4 address,
    however disguised with look-alike or invisible characters."""
    if text.isascii():
        plain = text.lower()  # what NFKC, the look-alike map and casefold make of ASCII
    else:
        plain = unicodedata.normalize("NFKC", text)
        plain = "".join(c for c in plain if unicodedata.category(c) != "Cf")
        plain = plain.translate(_CONFUSABLES).casefold()
    if _SCHEME.search(plain) or _ADDRESS.search(plain) or _IPV4.search(plain):
        return True
    for found in _DOMAIN.finditer(plain):
        domain = found.group(0).strip(".-")
        if _suffixes().publicsuffix(domain, accept_unknown=False) is not None:
            return True
    return False
