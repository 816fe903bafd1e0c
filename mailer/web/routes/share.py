"""The article pages and the share form: the share flow's producer."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from mailer.delivery.ledger import Kind
from mailer.errors import InvalidInput, MalformedRequest, NotFound, RateLimited
from mailer.queue import SHARE_TASK
from mailer.tokens import Purpose
from mailer.validation import likely_meant
from mailer.web.context import Ctx, WebContext
from mailer.web.errors import error_headers
from mailer.web.forms import SHARE_BODY, read_fields, wants_html

router = APIRouter()


@router.get("/", response_class=HTMLResponse)
def index(ctx: Ctx) -> HTMLResponse:
    """The list of articles and the sign-up form."""
    return ctx.page("web/index.html", articles=ctx.stores.articles.all())


@router.get("/articles/{article_id}", response_class=HTMLResponse)
def article_page(article_id: str, ctx: Ctx) -> HTMLResponse:
    """The article page with the "Recommend news to friend" form
    and the sign-up form."""
    return ctx.page("web/article.html", article=ctx.stores.articles.get(article_id))


@router.post("/share", status_code=202, openapi_extra=SHARE_BODY)
async def share(request: Request, ctx: Ctx) -> Response:
    """Fields `article_id`, `sender_name`, `sender_email`, `friend_name`,
    `friend_email`, `message` (optional), as JSON, `application/x-www-form-urlencoded`
    or `multipart/form-data`. `202 {"job_id", "status": "queued", "status_url"}` with
    `Location`; `422` listing every bad field; `404` an unknown article; `429` with
    `Retry-After` and a plain sentence when a flood limit is reached. A browser form
    post (`Accept: text/html`) gets a page back instead: the thank-you page, the form
    again with the errors, or a "please wait" page. What names and notes may hold:
    docs/security.md."""
    fields = await read_fields(request, ctx.settings.max_body_bytes)
    try:
        accepted = await ctx.share_intake.accept(
            fields, lambda job, payload: ctx.group_commit.submit(job, SHARE_TASK, payload),
            client_ip=ctx.ip_of(request), idempotency_key=_idempotency_key(request))
    except InvalidInput as exc:
        if wants_html(request):
            return await run_in_threadpool(_form_with_errors, ctx, fields, exc)
        raise
    except RateLimited as exc:
        if wants_html(request):
            return await run_in_threadpool(_please_wait, ctx, exc, fields)
        raise
    return _accepted(request, accepted.job_id, accepted.repeat)


def _idempotency_key(request: Request) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is not None and not (0 < len(key) <= 200 and key.isascii() and key.isprintable()):
        raise MalformedRequest({"Idempotency-Key": "must be 1 to 200 printable ASCII "
                                                   "characters"})
    return key


def _accepted(request: Request, job_id: str, repeat: bool) -> Response:
    """`repeat`: the same share moments ago; its e-mail stands, and the page says so."""
    if wants_html(request):
        # Post, redirect, get: a refresh of the thank-you page posts nothing.
        return RedirectResponse(f"/shared/{job_id}{'?again=1' if repeat else ''}",
                                status_code=303)
    return JSONResponse({"job_id": job_id, "status": "queued", "repeat": repeat,
                         "status_url": f"/jobs/{job_id}"},
                        status_code=202, headers={"Location": f"/jobs/{job_id}"})


def _please_wait(ctx: WebContext, exc: RateLimited, fields: dict[str, object]) -> Response:
    """The article's form again with all that was typed and why it waits; a page of
    its own when the form named no article we have."""
    article = ctx.find_article(fields.get("article_id"))
    if article is not None:
        response = ctx.page("web/article.html", 429, article=article, wait=str(exc),
                            values={k: v for k, v in fields.items() if isinstance(v, str)})
    else:
        response = ctx.message_page("Please wait", str(exc), 429)
    response.headers.update(error_headers(exc))
    return response


@router.get("/shared/{job_id}", response_class=HTMLResponse)
def shared(job_id: str, ctx: Ctx, again: bool = False) -> HTMLResponse:
    """The thank-you page a browser's share form is redirected to: the address the
    sender typed, in full (the job id is as unguessable as a link's token); `again`,
    the same share moments before, whose e-mail stands."""
    record = ctx.stores.ledger.get(job_id) if len(job_id) <= 64 else None
    if record is None or record.kind != Kind.SHARE:
        raise NotFound(f"no share {job_id[:64]!r}")
    return ctx.page("web/shared.html", article=ctx.stores.articles.get(record.reference),
                    recipient=record.recipient, again=again,
                    meant=likely_meant(record.recipient))


def _form_with_errors(ctx: WebContext, fields: dict[str, object],
                      exc: InvalidInput) -> Response:
    article = ctx.find_article(fields.get("article_id"))
    if article is None:
        return ctx.error_page(NotFound("there is no such article: it may have been "
                                       "taken down"))
    values = {k: v for k, v in fields.items() if isinstance(v, str)}
    return ctx.page("web/article.html", 422, article=article, values=values,
                    errors=exc.errors)


@router.get("/jobs/{job_id}")
def job_status(job_id: str, ctx: Ctx) -> dict[str, object]:
    """A delivery's status, attempts, last SMTP reply and masked
    recipient (`v***@example.org`)."""
    record = ctx.stores.ledger.get(job_id) if len(job_id) <= 64 else None
    if record is None:
        raise NotFound(f"unknown job {job_id[:64]!r}")
    return record.public()


@router.get("/refuse-shares/{token}", response_class=HTMLResponse)
def refuse_shares_form(token: str, ctx: Ctx) -> HTMLResponse:
    """The link in every share e-mail: a page with the masked
    address and a button; changes nothing (mail scanners and link previews fetch GETs)."""
    def action(address: str) -> HTMLResponse:
        return _refusal_page(ctx, token, address, ctx.stores.suppressions.refuses_shares(address))
    return ctx.token_page(Purpose.REFUSE_SHARES, token, action)


@router.post("/refuse-shares/{token}", response_class=HTMLResponse)
def refuse_shares(token: str, ctx: Ctx) -> HTMLResponse:
    """No more articles shared by readers reach the address:
    `200` with a way back on the page, no redirect. Shares to it are still accepted
    (nobody learns who refused) and recorded as suppressed, never sent."""
    def action(address: str) -> HTMLResponse:
        ctx.stores.suppressions.refuse_shares(address)
        return _refusal_page(ctx, token, address, True, changed=True)
    return ctx.token_page(Purpose.REFUSE_SHARES, token, action)


@router.post("/refuse-shares/{token}/undo", response_class=HTMLResponse)
def allow_shares(token: str, ctx: Ctx) -> HTMLResponse:
    """The way back: articles shared by readers reach the
    address again."""
    def action(address: str) -> HTMLResponse:
        ctx.stores.suppressions.allow_shares(address)
        return _refusal_page(ctx, token, address, False, changed=True)
    return ctx.token_page(Purpose.REFUSE_SHARES, token, action)


def _refusal_page(ctx: WebContext, token: str, address: str, refused: bool, *,
                  changed: bool = False) -> HTMLResponse:
    """The address in full: the link came to that mailbox, and someone with several
    must see which one they are refusing."""
    return ctx.page("web/refuse_shares.html", token=token, address=address,
                    refused=refused, changed=changed)
