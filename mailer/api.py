"""HTTP API: the share form's producer, a page to try it, and job status.

`create_app` is the entry point: it takes settings and, optionally, ready-made clients;
uvicorn runs it with `uvicorn --factory mailer.api:app_from_env`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qsl

import redis
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException, MultiPartParser

from mailer.articles import Article, ArticleStore
from mailer.config import Settings, load_settings
from mailer.errors import InvalidInput, MailerError, NotFound, RateLimited, ServiceUnavailable
from mailer.jobs import JobLedger
from mailer.queue import JobQueue, load_job_queue
from mailer.render import make_environment
from mailer.services import connect_redis, make_ledger, seeded_article_store, site_of
from mailer.share import submit_share

MAX_FORM_FIELDS = 32


def error_status(exc: MailerError) -> int:
    """The one mapping from library errors to HTTP status codes."""
    if isinstance(exc, InvalidInput):
        return 422
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, RateLimited):
        return 429
    if isinstance(exc, ServiceUnavailable):
        return 503
    return 500


def error_response(exc: MailerError) -> JSONResponse:
    status = error_status(exc)
    body: dict[str, Any] = {"detail": str(exc) if status < 500 or status == 503 else
                            "internal error"}
    headers: dict[str, str] = {}
    if isinstance(exc, InvalidInput):
        body["errors"] = exc.errors
    if isinstance(exc, RateLimited | ServiceUnavailable):
        headers["Retry-After"] = str(max(1, int(exc.retry_after + 0.999)))
    return JSONResponse(body, status_code=status, headers=headers)


async def read_fields(request: Request, max_bytes: int) -> dict[str, object]:
    """The request's fields from JSON or a form, within `max_bytes`, each at most once."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise HTTPException(413, f"request body is larger than {max_bytes} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise HTTPException(413, f"request body is larger than {max_bytes} bytes")
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "application/json":
        try:
            data = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InvalidInput({"body": f"is not valid JSON ({exc})"}) from None
        if not isinstance(data, dict):
            raise InvalidInput({"body": "must be a JSON object"})
        return data
    if ctype == "application/x-www-form-urlencoded":
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True,
                              max_num_fields=MAX_FORM_FIELDS, errors="strict")
        except (UnicodeDecodeError, ValueError) as exc:
            raise InvalidInput({"body": f"is not a valid UTF-8 form ({exc})"}) from None
        return _single_valued(pairs)
    if ctype == "multipart/form-data":
        try:
            form = await MultiPartParser(request.headers, _replay(bytes(body)), max_files=0,
                                         max_fields=MAX_FORM_FIELDS).parse()
        except (MultiPartException, HTTPException) as exc:
            detail = getattr(exc, "message", None) or getattr(exc, "detail", str(exc))
            raise InvalidInput({"body": f"is not a valid form ({detail})"}) from None
        return _single_valued(list(form.multi_items()))
    raise HTTPException(415, "Content-Type must be application/json, "
                             "application/x-www-form-urlencoded or multipart/form-data")


async def _replay(body: bytes) -> AsyncGenerator[bytes, None]:
    yield body


def _single_valued(pairs: list[tuple[str, Any]]) -> dict[str, object]:
    fields: dict[str, object] = {}
    for key, value in pairs:
        if key in fields:
            raise InvalidInput({key: "is given more than once"})
        fields[key] = value if isinstance(value, str) else object()
    return fields


def wants_html(request: Request) -> bool:
    ctype = request.headers.get("content-type", "")
    accept = request.headers.get("accept", "")
    return "form" in ctype and "text/html" in accept


def create_app(settings: Settings, *, client: redis.Redis | None = None,
               queue: JobQueue | None = None) -> FastAPI:
    client = client or connect_redis(settings)
    articles: ArticleStore = seeded_article_store(settings, client)
    ledger: JobLedger = make_ledger(settings, client)
    job_queue = queue or load_job_queue(settings)
    pages = make_environment(settings.templates_dir, settings.zone)
    site = site_of(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        job_queue.close()

    app = FastAPI(title="newsmailer", version="0.1.0", lifespan=lifespan)

    def page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
        html = pages.get_template(name).render(site=site, **context)
        return HTMLResponse(html, status_code=status)

    @app.exception_handler(MailerError)
    async def on_mailer_error(request: Request, exc: MailerError) -> Response:
        return error_response(exc)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/", response_class=HTMLResponse)
    def index() -> HTMLResponse:
        return page("web/index.html", articles=articles.all())

    @app.get("/articles/{article_id}", response_class=HTMLResponse)
    def article_page(article_id: str) -> HTMLResponse:
        return page("web/article.html", article=articles.get(article_id), values={}, errors={})

    @app.post("/share", status_code=202)
    async def share(request: Request) -> Response:
        fields = await read_fields(request, settings.max_body_bytes)
        try:
            # Blocking Redis and broker calls: off the event loop, so requests overlap.
            job_id = await run_in_threadpool(
                submit_share, fields, articles=articles, ledger=ledger, queue=job_queue,
                check_deliverability=settings.check_deliverability)
        except InvalidInput as exc:
            if wants_html(request):
                return _form_with_errors(fields, exc)
            raise
        if wants_html(request):
            article = articles.get(str(fields["article_id"]).strip())
            return page("web/shared.html", 202, article=article,
                        friend_name=str(fields.get("friend_name", "")))
        return JSONResponse({"job_id": job_id, "status": "queued",
                             "status_url": f"/jobs/{job_id}"},
                            status_code=202, headers={"Location": f"/jobs/{job_id}"})

    def _form_with_errors(fields: dict[str, object], exc: InvalidInput) -> Response:
        try:
            article: Article = articles.get(str(fields.get("article_id", "")).strip())
        except NotFound:
            return error_response(exc)
        values = {k: v for k, v in fields.items() if isinstance(v, str)}
        return page("web/article.html", 422, article=article, values=values, errors=exc.errors)

    @app.get("/jobs/{job_id}")
    def job_status(job_id: str) -> dict[str, object]:
        record = ledger.get(job_id) if len(job_id) <= 64 else None
        if record is None:
            raise NotFound(f"unknown job {job_id[:64]!r}")
        return record.public()

    return app


def app_from_env() -> FastAPI:
    """For `uvicorn --factory mailer.api:app_from_env`: a bad setting or an unreachable
    Redis stops start-up with one line, not a traceback."""
    try:
        return create_app(load_settings())
    except MailerError as exc:
        sys.stderr.write(f"error: {exc}\n")
        raise SystemExit(2) from None
