"""Strict JSON for request bodies. The standard parser accepts what our forms must
not: nesting deep enough to exhaust the recursion limit (a 500), lone surrogates from
`\\ud800` escapes (accepted, then failing in the worker), duplicate keys with the last
one silently winning, and integers too long to convert. Each is refused here with a
sentence naming the field."""

from __future__ import annotations

import json
import re
from typing import Any

from mailer.errors import InvalidInput, MalformedRequest
from mailer.text import valid_unicode

MAX_DEPTH = 32
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)
_COLON = re.compile(r"\s*:")
INVALID_TEXT = "contains characters that are not valid text (invalid Unicode)"


class _Duplicate(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise _Duplicate(key)
        found[key] = value
    return found


def parse_json(raw: bytes, max_depth: int = MAX_DEPTH) -> object:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedRequest({"body": "is not valid JSON: it is not UTF-8 text"}) from None
    _check_depth(text, max_depth)
    try:
        data = json.loads(text, object_pairs_hook=_unique)
    except _Duplicate as dup:
        raise InvalidInput({_name(dup.key): "is given more than once"}) from None
    except json.JSONDecodeError as exc:
        raise MalformedRequest({"body": f"is not valid JSON ({exc.msg} at line {exc.lineno}, "
                                        f"column {exc.colno})"}) from None
    except ValueError:  # an integer literal of thousands of digits
        raise InvalidInput({"body": "holds a number too long to read"}) from None
    _check_strings(data, "body")
    return data


def _name(key: str) -> str:
    return key[:60] if valid_unicode(key) else "body"


def _check_depth(text: str, max_depth: int) -> None:
    """Counted on the raw text, before the recursive parser sees it; not at all when
    the text has too few brackets to nest that deep (a form's flat object)."""
    if text.count("{") + text.count("[") <= max_depth:
        return
    depth = 0
    field = "body"
    for token in _TOKENS.finditer(text):
        char = token.group()
        if char in "[{":
            depth += 1
            if depth > max_depth:
                raise InvalidInput({field: f"is nested more than {max_depth} levels deep"})
        elif char in "]}":
            depth -= 1
        elif depth == 1 and _COLON.match(text, token.end()):
            try:
                field = _name(json.loads(char))
            except ValueError:
                field = "body"


def _check_strings(value: object, field: str) -> None:
    if isinstance(value, str):
        if not valid_unicode(value):
            raise InvalidInput({field: INVALID_TEXT})
    elif isinstance(value, dict):
        for key, item in value.items():
            if not valid_unicode(key):
                raise InvalidInput({"body": f"has a field name that {INVALID_TEXT}"})
            _check_strings(item, key if field == "body" else field)
    elif isinstance(value, list):
        for item in value:
            _check_strings(item, field)
