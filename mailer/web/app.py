"""HTTP API: the share and sign-up forms' producer, the links in e-mails, the CMS intake.

`create_app` is the entry point: it takes settings and, optionally, ready-made stores
and queue; uvicorn runs it with `uvicorn --factory mailer.web.app:app_from_env`.
"""

from __future__ import annotations

import base64
import hmac
import sys
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Collection
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from functools import partial
from typing import Any
from urllib.parse import parse_qsl

import redis
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mailer.articles.model import Article, parse_article
from mailer.config import Settings, load_settings
from mailer.delivery.bounces import parse_bounces, record_bounces
from mailer.errors import (
    ExpiredToken,
    InvalidInput,
    InvalidToken,
    MailerError,
    MalformedRequest,
    NotFound,
    RateLimited,
    ServiceUnavailable,
    Unauthorized,
)
from mailer.ops.metrics import RedisCollector, sent_per_minute
from mailer.ops.status import collect, relay_states
from mailer.queue import SHARE_TASK, JobQueue, load_job_queue
from mailer.render import make_environment
from mailer.services import (
    Stores,
    default_preferences,
    make_catalog,
    make_redis,
    make_tokens,
    open_stores,
    resend_after,
    share_guards,
    signup_guards,
    signup_mail_cap,
    site_of,
)
from mailer.share.flow import prepare_share
from mailer.subscriptions.signup import links, submit_signup
from mailer.subscriptions.store import Subscriber, validate_preferences
from mailer.text import valid_unicode
from mailer.tokens import Purpose
from mailer.web.flood import client_ip, parse_networks
from mailer.web.group_commit import GroupCommit
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
                     "hour": {"type": "integer"}}, ["email"])
BOUNCE_BODY = _body({"email": _TEXT, "type": {"type": "string",
                                              "enum": ["hard", "soft", "complaint"]},
                     "reason": _TEXT}, ["email"])
SIGNUP_ACCEPTED = ("If this address can receive mail, a message with a confirmation link "
                   "is on its way to it.")


def _check(probe: Callable[[], object]) -> dict[str, object]:
    try:
        probe()
    except Exception as exc:  # any failure is the check's answer, not an error
        return {"ok": False, "detail": f"{type(exc).__name__}: {exc}"[:300]}
    return {"ok": True, "detail": "ok"}


def error_status(exc: MailerError) -> int:
    """The one mapping from library errors to HTTP status codes."""
    for kind, status in ((MalformedRequest, 400), (InvalidInput, 422), (NotFound, 404),
                         (ExpiredToken, 410), (InvalidToken, 400), (Unauthorized, 401),
                         (RateLimited, 429), (ServiceUnavailable, 503)):
        if isinstance(exc, kind):
            return status
    return 500


def error_headers(exc: MailerError) -> dict[str, str]:
    if isinstance(exc, RateLimited | ServiceUnavailable):
        return {"Retry-After": str(max(1, int(exc.retry_after + 0.999)))}
    if isinstance(exc, Unauthorized):
        return {"WWW-Authenticate": "Bearer"}
    return {}


def error_response(exc: MailerError) -> JSONResponse:
    status = error_status(exc)
    body: dict[str, Any] = {"detail": str(exc) if status != 500 else "internal error"}
    if isinstance(exc, InvalidInput):
        body["errors"] = exc.errors
    return JSONResponse(body, status_code=status, headers=error_headers(exc))


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


def wants_html(request: Request) -> bool:
    ctype = request.headers.get("content-type", "")
    accept = request.headers.get("accept", "")
    return "form" in ctype and "text/html" in accept


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


def create_app(settings: Settings, *, stores: Stores | None = None,
               queue: JobQueue | None = None) -> FastAPI:
    settings.check_secrets()
    db = stores or open_stores(settings)
    job_queue = queue or load_job_queue(settings)
    pages = make_environment(settings.templates_dir, settings.zone)
    site = site_of(settings)
    tokens = make_tokens(settings)
    catalog = make_catalog(settings)
    defaults = default_preferences(settings)
    api_key = settings.api_key.get_secret_value() if settings.api_key else None
    proxies = parse_networks(settings.trusted_proxies)
    flood_redis = make_redis(settings)
    group_commit = GroupCommit(ledger=db.ledger, queue=job_queue)
    share_guard = share_guards(settings, flood_redis)
    signup_guard = signup_guards(settings, flood_redis)
    mail_cap = signup_mail_cap(settings, flood_redis)

    def ip_of(request: Request) -> str:
        return client_ip(request.client.host if request.client else None, request.headers,
                         settings.proxy_header, proxies)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        group_commit.close()
        job_queue.close()
        flood_redis.close()
        if stores is None:
            db.close()

    app = FastAPI(title="newsmailer", version="0.3.0", lifespan=lifespan)
    app.add_middleware(HeadAsGet)

    def page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
        context.setdefault("catalog", catalog)
        context.setdefault("defaults", defaults)
        html = pages.get_template(name).render(site=site, **context)
        return HTMLResponse(html, status_code=status)

    def message_page(title: str, text: str, status: int = 200) -> HTMLResponse:
        return page("web/message.html", status, title=title, text=text)

    @app.exception_handler(MailerError)
    async def on_mailer_error(request: Request, exc: MailerError) -> Response:
        return error_response(exc)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        """The process is up; says nothing of what it depends on (that is /readyz)."""
        return {"status": "ok"}

    metrics_registry = CollectorRegistry()
    metrics_registry.register(RedisCollector(
        flood_redis, relays=[relay.id for relay in settings.smtp_relays]))

    @app.get("/metrics")
    def metrics() -> Response:
        """Prometheus exposition: counters and histograms from Redis (all workers on all
        machines), queue gauges from the broker."""
        try:
            body = generate_latest(metrics_registry)
        except redis.RedisError as exc:
            raise ServiceUnavailable(f"metrics unavailable (Redis): {exc}") from None
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    def ops_guard(request: Request) -> Response | None:
        try:
            check_api_key(request, api_key)
        except Unauthorized as exc:
            return JSONResponse({"detail": str(exc)}, status_code=401,
                                headers={"WWW-Authenticate": 'Basic realm="newsmailer ops"'})
        return None

    @app.get("/ops", response_class=HTMLResponse)
    def ops_page(request: Request) -> Response:
        """The live ops page (API key as the Basic-auth password): what `mailer status`
        shows, refreshed every 2 s, with sent-per-minute for the last hour."""
        return ops_guard(request) or page("web/ops.html", status_url="/ops/status.json",
                                          refresh_ms=2000)

    @app.get("/ops/status.json")
    async def ops_status(request: Request) -> Response:
        denied = ops_guard(request)
        if denied is not None:
            return denied

        def gather() -> dict[str, object]:
            snapshot = collect(settings, db, flood_redis, job_queue, max_age=300,
                               timeout=0.5).as_dict()
            snapshot["throughput"] = [
                {"minute": datetime.fromtimestamp(m * 60, UTC).strftime("%H:%M"), "sent": n}
                for m, n in sent_per_minute(flood_redis)]
            return snapshot
        try:
            return JSONResponse(await run_in_threadpool(gather))
        except redis.RedisError as exc:
            raise ServiceUnavailable(f"status unavailable (Redis): {exc}") from None

    @app.get("/readyz")
    def readyz() -> JSONResponse:
        """Redis, the database and at least one worker answer: 200, else 503, with what
        each check found."""
        checks = {"redis": _check(flood_redis.ping),
                  "database": _check(lambda: db.ledger.get("readyz") is None)}
        try:
            names = job_queue.workers(timeout=1.0)
            checks["workers"] = {"ok": bool(names), "detail": ", ".join(names)
                                 or "no worker answered a ping within 1 s"}
        except MailerError as exc:
            checks["workers"] = {"ok": False, "detail": str(exc)}
        ready = all(c["ok"] for c in checks.values())
        # Told, but not part of readiness: the API still takes shares while a relay is
        # down (they wait in the queue), so a load balancer must keep sending it traffic.
        try:
            down = [r for r in relay_states(settings, flood_redis) if not r.healthy]
            checks["relays"] = {"ok": not down, "detail": "; ".join(
                f"{r.id}: {r.reason}" for r in down) or "ok"}
        except redis.RedisError as exc:
            checks["relays"] = {"ok": False, "detail": f"unknown (Redis: {exc})"[:300]}
        return JSONResponse({"status": "ready" if ready else "not ready", "checks": checks},
                            status_code=200 if ready else 503)

    @app.get("/", response_class=HTMLResponse)
    def index() -> HTMLResponse:
        return page("web/index.html", articles=db.articles.all(), values={}, errors={})

    @app.get("/articles/{article_id}", response_class=HTMLResponse)
    def article_page(article_id: str) -> HTMLResponse:
        return page("web/article.html", article=db.articles.get(article_id), values={},
                    errors={})

    @app.post("/share", status_code=202, openapi_extra=SHARE_BODY)
    async def share(request: Request) -> Response:
        fields = await read_fields(request, settings.max_body_bytes)
        try:
            # Validation on the event loop, not in the thread pool: it is a fraction of
            # a millisecond of CPU, and threads convoying on the GIL cost more than
            # they overlap (bench/share_load.py). Recording goes to the group commit's
            # writer thread, one transaction for all waiting requests. DNS lookups for
            # deliverability checks do wait on the network: those get a thread.
            prepare = partial(prepare_share, fields, articles=db.articles,
                              check_deliverability=settings.check_deliverability,
                              guard=share_guard(ip_of(request)))
            job, payload = await run_in_threadpool(prepare) \
                if settings.check_deliverability else prepare()
            await group_commit.submit(job, SHARE_TASK, payload)
            job_id = job.id
        except InvalidInput as exc:
            if wants_html(request):
                return await run_in_threadpool(_form_with_errors, fields, exc)
            raise
        except RateLimited as exc:
            if wants_html(request):
                response = message_page("Please wait", str(exc), 429)
                response.headers.update(error_headers(exc))
                return response
            raise
        if wants_html(request):
            article = db.articles.get(str(fields["article_id"]).strip())
            return page("web/shared.html", 202, article=article,
                        friend_name=str(fields.get("friend_name", "")))
        return JSONResponse({"job_id": job_id, "status": "queued",
                             "status_url": f"/jobs/{job_id}"},
                            status_code=202, headers={"Location": f"/jobs/{job_id}"})

    def _form_with_errors(fields: dict[str, object], exc: InvalidInput) -> Response:
        try:
            article: Article = db.articles.get(str(fields.get("article_id", "")).strip())
        except NotFound:
            return error_response(exc)
        values = {k: v for k, v in fields.items() if isinstance(v, str)}
        return page("web/article.html", 422, article=article, values=values, errors=exc.errors)

    @app.get("/jobs/{job_id}")
    def job_status(job_id: str) -> dict[str, object]:
        record = db.ledger.get(job_id) if len(job_id) <= 64 else None
        if record is None:
            raise NotFound(f"unknown job {job_id[:64]!r}")
        return record.public()

    @app.post("/subscribe", status_code=202, openapi_extra=SIGNUP_BODY)
    async def subscribe(request: Request) -> Response:
        fields = await read_fields(request, settings.max_body_bytes, lists={"sections"})
        try:
            await run_in_threadpool(
                submit_signup, fields, catalog=catalog, default=defaults, store=db.subscribers,
                ledger=db.ledger, queue=job_queue, resend_after=resend_after(settings),
                check_deliverability=settings.check_deliverability,
                guard=signup_guard(ip_of(request)), mail_cap=mail_cap)
        except InvalidInput as exc:
            if wants_html(request):
                return page("web/index.html", 422, articles=db.articles.all(),
                            values=fields, errors=exc.errors)
            raise
        if wants_html(request):
            return message_page("Check your inbox", SIGNUP_ACCEPTED, 202)
        return JSONResponse({"status": "accepted", "detail": SIGNUP_ACCEPTED}, status_code=202)

    def token_page(purpose: Purpose, token: str,
                   action: Callable[[str], HTMLResponse]) -> HTMLResponse:
        """Links in e-mails are opened in browsers: errors are pages, with the status
        code the JSON API would give."""
        try:
            return action(tokens.read(purpose, token))
        except MailerError as exc:
            return error_page(exc)

    def error_page(exc: MailerError) -> HTMLResponse:
        status = error_status(exc)
        title = {400: "This link is not valid", 410: "This link has expired",
                 404: "Not found", 503: "Please try again in a minute"}.get(status, "Error")
        return message_page(title, str(exc).capitalize() + ".", status)

    @app.get("/confirm/{token}", response_class=HTMLResponse)
    def confirm(token: str) -> HTMLResponse:
        def action(subscriber_id: str) -> HTMLResponse:
            subscriber = db.subscribers.confirm(subscriber_id)
            return page("web/confirmed.html", subscriber=subscriber,
                        links=links(tokens, settings.public_url, subscriber.id))
        return token_page(Purpose.CONFIRM, token, action)

    @app.get("/unsubscribe/{token}", response_class=HTMLResponse)
    def unsubscribe_form(token: str) -> HTMLResponse:
        # Changes nothing: mail scanners and link previews fetch GETs.
        def action(subscriber_id: str) -> HTMLResponse:
            return page("web/unsubscribe.html", subscriber=db.subscribers.get(subscriber_id),
                        token=token)
        return token_page(Purpose.UNSUBSCRIBE, token, action)

    @app.post("/unsubscribe/{token}", response_class=HTMLResponse)
    def unsubscribe(token: str) -> HTMLResponse:
        # RFC 8058 one-click: the mailbox provider POSTs "List-Unsubscribe=One-Click";
        # whatever the body, the answer is 200 and the address is off the list now.
        def action(subscriber_id: str) -> HTMLResponse:
            subscriber = db.subscribers.unsubscribe(subscriber_id)
            return message_page("You are unsubscribed",
                                f"{subscriber.masked_email} will get no more digests from "
                                f"{site.name}.")
        return token_page(Purpose.UNSUBSCRIBE, token, action)

    @app.get("/preferences/{token}", response_class=HTMLResponse)
    def preferences_form(token: str) -> HTMLResponse:
        def action(subscriber_id: str) -> HTMLResponse:
            return preferences_page(db.subscribers.get(subscriber_id), token, {})
        return token_page(Purpose.PREFERENCES, token, action)

    def preferences_page(subscriber: Subscriber, token: str, errors: dict[str, str],
                         status: int = 200, saved: bool = False) -> HTMLResponse:
        return page("web/preferences.html", status, subscriber=subscriber, token=token,
                    errors=errors, saved=saved,
                    unsubscribe_url=links(tokens, settings.public_url,
                                          subscriber.id)["unsubscribe"])

    @app.post("/preferences/{token}", response_class=HTMLResponse)
    async def preferences(token: str, request: Request) -> HTMLResponse:
        try:
            tokens.read(Purpose.PREFERENCES, token)  # a bad link says so before the body
        except MailerError as exc:
            return error_page(exc)
        fields = await read_fields(request, settings.max_body_bytes, lists={"sections"})
        fields.setdefault("sections", [])

        def action(subscriber_id: str) -> HTMLResponse:
            subscriber = db.subscribers.get(subscriber_id)
            chosen, errors = validate_preferences(fields, catalog,
                                                  default=subscriber.preferences)
            if not fields["sections"]:
                errors["sections"] = "choose at least one section, or unsubscribe below"
            if errors:
                return preferences_page(subscriber, token, errors, 422)
            updated = db.subscribers.update_preferences(subscriber_id, chosen)
            return preferences_page(updated, token, {}, saved=True)
        return await run_in_threadpool(token_page, Purpose.PREFERENCES, token, action)

    @app.post("/articles")
    async def import_articles(request: Request) -> dict[str, int]:
        check_api_key(request, api_key)
        body = await read_json(request)
        items = body if isinstance(body, list) else [body]
        articles = [parse_article(item, f"[{i}]") for i, item in enumerate(items)]
        count = await run_in_threadpool(db.articles.put_many, articles)
        return {"imported": count}

    @app.post("/webhooks/bounce", openapi_extra=BOUNCE_BODY)
    async def bounce_webhook(request: Request) -> dict[str, int]:
        """Hard bounces and complaints from the relay or ESP: see mailer/bounces.py."""
        check_api_key(request, api_key)
        bounces = parse_bounces(await read_json(request))
        report = await run_in_threadpool(record_bounces, db.suppressions, bounces)
        return report.as_dict()

    async def read_json(request: Request) -> object:
        # A CMS may post a day's articles at once: a larger limit than the forms'.
        return parse_json(await read_body(request, settings.max_body_bytes * 64))

    return app


def app_from_env() -> FastAPI:
    """For `uvicorn --factory mailer.web.app:app_from_env`: a bad setting, an unreachable
    or outdated database stops start-up with one line, not a traceback."""
    try:
        return create_app(load_settings())
    except MailerError as exc:
        sys.stderr.write(f"error: {exc}\n")
        raise SystemExit(2) from None
