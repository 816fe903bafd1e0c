"""Reading what a client sends: a body within its size limit, as JSON or a form, with
our own limits (field count, repeats, strict JSON, valid Unicode), and the API key."""

from __future__ import annotations

import base64
import hmac
from collections.abc import AsyncGenerator, Collection
from typing import Any
from urllib.parse import parse_qsl

from fastapi import Request
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException, MultiPartParser

from mailer.errors import InvalidInput, Unauthorized
from mailer.text import valid_unicode
from mailer.web.jsonbody import INVALID_TEXT, parse_json

MAX_FORM_FIELDS = 32


def _body(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    """The OpenAPI description of a form body: the handlers read the raw request (JSON
    or a form, with our own limits), so FastAPI cannot derive it; schemathesis and
    client generators need it."""
    schema = {"type": "object", "properties": properties, "required": required}
    return {"requestBody": {"required": True, "content": {
        "application/json": {"schema": schema},
        "application/x-www-form-urlencoded": {"schema": schema}}}}


_TEXT = {"type": "string"}
SHARE_BODY = _body({"article_id": _TEXT, "sender_name": _TEXT, "sender_email": _TEXT,
                    "friend_name": _TEXT, "friend_email": _TEXT, "message": _TEXT,
                    "website": _TEXT},
                   ["article_id", "sender_name", "sender_email", "friend_name", "friend_email"])
SIGNUP_BODY = _body({"email": _TEXT, "name": _TEXT, "sections": _TEXT, "timezone": _TEXT,
                     "timezone_hint": _TEXT, "hour": {"type": "integer"},
                     "article_id": _TEXT}, ["email"])
MANAGE_BODY = _body({"email": _TEXT}, ["email"])
BOUNCE_BODY = _body({"email": _TEXT, "type": {"type": "string",
                                              "enum": ["hard", "soft", "complaint"]},
                     "reason": _TEXT}, ["email"])
SIGNUP_ACCEPTED = ("If this address can receive mail, a message with a confirmation link "
                   "is on its way to it.")


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The body, refused with 413 as soon as it passes `max_bytes` (not after)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise HTTPException(413, f"request body is larger than {max_bytes} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise HTTPException(413, f"request body is larger than {max_bytes} bytes")
    return bytes(body)


async def read_fields(request: Request, max_bytes: int,
                      lists: Collection[str] = ()) -> dict[str, object]:
    """The request's fields from JSON or a form, within `max_bytes`. A form field may
    repeat only if it is named in `lists` (checkboxes); it then comes back as a list."""
    body = await read_body(request, max_bytes)
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "application/json":
        data = parse_json(body)
        if not isinstance(data, dict):
            raise InvalidInput({"body": "must be a JSON object"})
        return data
    if ctype == "application/x-www-form-urlencoded":
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True,
                              max_num_fields=MAX_FORM_FIELDS, errors="strict")
        except (UnicodeDecodeError, ValueError) as exc:
            raise InvalidInput({"body": f"is not a valid UTF-8 form ({exc})"}) from None
        return _collect(pairs, lists)
    if ctype == "multipart/form-data":
        try:
            form = await MultiPartParser(request.headers, _replay(body), max_files=0,
                                         max_fields=MAX_FORM_FIELDS).parse()
        except (MultiPartException, HTTPException) as exc:
            detail = getattr(exc, "message", None) or getattr(exc, "detail", str(exc))
            raise InvalidInput({"body": f"is not a valid form ({detail})"}) from None
        return _collect(list(form.multi_items()), lists)
    raise HTTPException(415, "Content-Type must be application/json, "
                             "application/x-www-form-urlencoded or multipart/form-data")


async def _replay(body: bytes) -> AsyncGenerator[bytes, None]:
    yield body


def _collect(pairs: list[tuple[str, Any]], lists: Collection[str]) -> dict[str, object]:
    fields: dict[str, object] = {}
    for key, value in pairs:
        value = value if isinstance(value, str) else object()
        if isinstance(value, str) and not (valid_unicode(value) and valid_unicode(key)):
            raise InvalidInput({key if valid_unicode(key) else "body": INVALID_TEXT})
        if key in lists:
            existing = fields.setdefault(key, [])
            assert isinstance(existing, list)
            existing.append(value)
        elif key in fields:
            raise InvalidInput({key: "is given more than once"})
        else:
            fields[key] = value
    return fields


def wants_html(request: Request) -> bool:
    ctype = request.headers.get("content-type", "")
    accept = request.headers.get("accept", "")
    return "form" in ctype and "text/html" in accept


def prefers_html(request: Request) -> bool:
    """A browser navigating (its Accept starts with text/html), not an API client."""
    return request.headers.get("accept", "").split(",")[0].strip().startswith("text/html")


def check_api_key(request: Request, expected: str | None) -> None:
    """`X-API-Key: <key>`, `Authorization: Bearer <key>`, or Basic auth with the key as
    the password (what a browser can send, for the ops page)."""
    if not expected:
        raise Unauthorized("this endpoint is disabled: set MAILER_API_KEY to enable it")
    given = request.headers.get("x-api-key") or ""
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        given = credentials.strip()
    elif scheme.lower() == "basic":
        try:
            given = base64.b64decode(credentials.strip(), validate=True).decode().partition(
                ":")[2]
        except (ValueError, UnicodeDecodeError):
            given = ""
    if not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise Unauthorized("missing or wrong API key")


async def read_json(request: Request, max_bytes: int) -> object:
    return parse_json(await read_body(request, max_bytes))
