"""The HTTP API: the share and sign-up forms' producer, the links in e-mails, the CMS
intake, and the ops endpoints, as one router each (mailer/web/routes/).

`create_app` only assembles: settings, stores, the queue and Redis into a `WebContext`
the routes receive by dependency injection, then the routers. uvicorn runs it with
`uvicorn --factory mailer.web.app:app_from_env`.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import jinja2
from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import Response
from prometheus_client import CollectorRegistry
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mailer.config import Settings, load_settings
from mailer.errors import MailerError, NotFound
from mailer.limits.parsing import parse_networks
from mailer.ops.metrics import RedisCollector, ServiceCollector
from mailer.queue import JobQueue, load_job_queue
from mailer.render import make_environment
from mailer.services import (
    Stores,
    default_preferences,
    make_catalog,
    make_digest_mail,
    make_redis,
    make_repeat_window,
    make_tokens,
    open_stores,
    share_guards,
    signup_guards,
    signup_mail_cap,
    site_of,
)
from mailer.subscriptions.zones import zone_choices
from mailer.web.context import WebContext
from mailer.web.errors import error_headers, error_response
from mailer.web.forms import prefers_html
from mailer.web.group_commit import GroupCommit
from mailer.web.routes import digest, intake, ops, share, subscriptions


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


def web_pages(settings: Settings) -> jinja2.Environment:
    """The site's page templates: the mail environment plus the list of time zones the
    forms offer (with today's offsets in the site's zone)."""
    pages = make_environment(settings.templates_dir, settings.zone)
    pages.globals["zone_choices"] = lambda: zone_choices(datetime.now(settings.zone).date())
    return pages


def create_app(settings: Settings, *, stores: Stores | None = None,
               queue: JobQueue | None = None) -> FastAPI:
    settings.check_secrets()
    db = stores or open_stores(settings)
    job_queue = queue or load_job_queue(settings)
    client = make_redis(settings)
    metrics = CollectorRegistry()
    metrics.register(RedisCollector(client, relays=[r.id for r in settings.smtp_relays]))
    metrics.register(ServiceCollector(db, job_queue))
    context = WebContext(
        settings=settings, db=db, queue=job_queue, redis=client,
        pages=web_pages(settings), site=site_of(settings),
        tokens=make_tokens(settings), catalog=make_catalog(settings),
        defaults=default_preferences(settings),
        api_key=settings.api_key.get_secret_value() if settings.api_key else None,
        proxies=parse_networks(settings.trusted_proxies),
        group_commit=GroupCommit(ledger=db.ledger, queue=job_queue),
        share_guard=share_guards(settings, client), signup_guard=signup_guards(settings, client),
        mail_cap=signup_mail_cap(settings, client), metrics=metrics,
        digest=make_digest_mail(settings), repeat_window=make_repeat_window(settings, client))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        context.group_commit.close()
        job_queue.close()
        client.close()
        if stores is None:
            db.close()

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

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404 and prefers_html(request):
            return context.error_page(NotFound("there is no page at this address"))
        return await http_exception_handler(request, exc)

    for router in ROUTERS:
        app.include_router(router)
    return app


ROUTERS = (ops.router, share.router, subscriptions.router, digest.router, intake.router)
TITLE, VERSION = "newsmailer", "0.3.0"


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
