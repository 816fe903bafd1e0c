"""The one mapping from the library's errors to HTTP: status, headers, JSON body."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from mailer.errors import (
    ExpiredToken,
    Forbidden,
    InvalidInput,
    InvalidToken,
    MailerError,
    MalformedRequest,
    NotFound,
    RateLimited,
    ServiceUnavailable,
    Unauthorized,
)


def error_status(exc: MailerError) -> int:
    """The one mapping from library errors to HTTP status codes."""
    for kind, status in ((MalformedRequest, 400), (InvalidInput, 422), (NotFound, 404),
                         (ExpiredToken, 410), (InvalidToken, 400), (Unauthorized, 401),
                         (Forbidden, 403),
                         (RateLimited, 429), (ServiceUnavailable, 503)):
        if isinstance(exc, kind):
            return status
    return 500


def error_headers(exc: MailerError) -> dict[str, str]:
    if isinstance(exc, RateLimited | ServiceUnavailable):
        return {"Retry-After": str(max(1, int(exc.retry_after + 0.999)))}
    if isinstance(exc, Unauthorized):
        return {"WWW-Authenticate": exc.challenge}
    return {}


def error_response(exc: MailerError) -> JSONResponse:
    status = error_status(exc)
    body: dict[str, Any] = {"detail": str(exc) if status != 500 else "internal error"}
    if isinstance(exc, InvalidInput):
        body["errors"] = exc.errors
    return JSONResponse(body, status_code=status, headers=error_headers(exc))
