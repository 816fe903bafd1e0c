"""The HTTP API: the share and sign-up forms' producer, the links in e-mails, the CMS
intake, and the ops endpoints, as one router each (mailer/web/routes/).

`create_app` only assembles: the `WebContext` that `mailer.services` builds (the routes
receive it by dependency injection), then the routers. uvicorn runs it with
`uvicorn --factory mailer.web.app:app_from_env`.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mailer import services, version
from mailer.config import Settings, load_settings
from mailer.errors import MailerError, MalformedRequest, NotFound
from mailer.queue import JobQueue
from mailer.stores import Stores
from mailer.web.errors import error_headers, error_response
from mailer.web.forms import prefers_html
from mailer.web.routes import (
    digest,
    intake,
    manage,
    newsletters,
    ops,
    share,
    subscriptions,
    webhooks,
)


class HeadAsGet:
    """Every GET route answers HEAD as well (RFC 9110 9.3.2: the same status and
    headers, no body); FastAPI's routes answer only the methods they name."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, headers_only)


def create_app(settings: Settings, *, stores: Stores | None = None,
               queue: JobQueue | None = None,
               fetch: Callable[[str], bytes] | None = None) -> FastAPI:
    """`stores` and `queue` given (tests, the embedded stack) stay their owner's to
    close; what the app opens itself it closes at shutdown. `fetch`: how SNS's signing
    certificates are fetched (tests have no network)."""
    settings.check_secrets()
    context = services.web_context(settings, opened=stores, queue=queue, fetch=fetch)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        context.close()

    app = FastAPI(title=TITLE, version=VERSION, lifespan=lifespan)
    app.state.web = context
    app.add_middleware(HeadAsGet)

    @app.exception_handler(MailerError)
    async def on_mailer_error(request: Request, exc: MailerError) -> Response:
        if prefers_html(request):
            response = context.error_page(exc)
            response.headers.update(error_headers(exc))
            return response
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def on_invalid_parameter(request: Request, exc: RequestValidationError) -> Response:
        return await on_mailer_error(request, malformed_parameters(exc))

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404 and prefers_html(request):
            return context.error_page(NotFound("there is no page at this address"))
        if exc.status_code == 405 and prefers_html(request):
            # The address a form's answer left in the address bar, opened again (Enter,
            # a restored tab, a copied link): a page, not the API's JSON.
            return context.message_page(
                "This address is a form's", "It only takes what a form sends, so there "
                "is nothing to show here on its own. The forms are on each article's page "
                "and on the front page.", 405)
        return await http_exception_handler(request, exc)

    for router in ROUTERS:
        app.include_router(router)
    return app


def malformed_parameters(exc: RequestValidationError) -> MalformedRequest:
    """A query or path parameter FastAPI could not read (`days=x` on a digest link) as
    our own error, so a browser gets the "link is not valid" page and a program a
    sentence per parameter, not pydantic's list of dicts."""
    errors: dict[str, str] = {}
    for error in exc.errors():
        name = str(error.get("loc", ("", "request"))[-1])
        message = str(error.get("msg", "is not valid"))
        errors.setdefault(name, message[:1].lower() + message[1:])
    return MalformedRequest(errors or {"request": "is not valid"})


ROUTERS = (ops.router, share.router, subscriptions.router, manage.router, newsletters.router,
           digest.router,
           intake.router, webhooks.router)
TITLE, VERSION = "newsmailer", version()


def api_schema() -> dict[str, Any]:
    """The OpenAPI schema, without settings or services (docs/generate.py)."""
    app = FastAPI(title=TITLE, version=VERSION)
    for router in ROUTERS:
        app.include_router(router)
    return app.openapi()


def app_from_env() -> FastAPI:
    """For `uvicorn --factory mailer.web.app:app_from_env`: a bad setting, an unreachable
    or outdated database stops start-up with one line, not a traceback."""
    try:
        return create_app(load_settings())
    except MailerError as exc:
        sys.stderr.write(f"error: {exc}\n")
        raise SystemExit(2) from None
