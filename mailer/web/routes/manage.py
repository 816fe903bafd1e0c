""""Manage my subscriptions": the preference centre reached from the site, not from an
old e-mail. A reader types an address; the address gets a short-lived link to its
preferences page. The answer is the same for every address (mailer/subscriptions/
notices.py says how), and the form is held to the sign-up's own limits."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from mailer.errors import InvalidInput
from mailer.subscriptions.notices import MANAGE_ACCEPTED, request_manage_link
from mailer.web.context import Ctx
from mailer.web.forms import MANAGE_BODY, read_fields, wants_html

router = APIRouter()


@router.get("/manage", response_class=HTMLResponse)
def manage_form(ctx: Ctx) -> HTMLResponse:
    """The page where a reader asks for a link to their
    preferences: one field, the address."""
    return ctx.page("web/manage.html", hours=ctx.settings.manage_link_hours)


@router.post("/manage", status_code=202, openapi_extra=MANAGE_BODY)
async def manage(request: Request, ctx: Ctx) -> Response:
    """`email`. `202 {"status": "accepted", "detail"}`,
    the same whether or not the address has a subscription (only an active subscriber
    is sent the link, valid `MAILER_MANAGE_LINK_HOURS`; any other address nothing);
    `422` with the error; `429` when the client is over the sign-up form's limit,
    which this form shares, as it shares the per-address cap on e-mails. A browser's
    form post is answered `303` to a "check your inbox" page, or with the form again
    showing the error."""
    fields = await read_fields(request, ctx.settings.max_body_bytes)
    try:
        await run_in_threadpool(
            request_manage_link, fields, ledger=ctx.stores.ledger, queue=ctx.queue,
            check_deliverability=ctx.settings.check_deliverability,
            guard=ctx.signup_guard(ctx.ip_of(request)), mail_cap=ctx.mail_cap)
    except InvalidInput as exc:
        if wants_html(request):
            return ctx.page("web/manage.html", 422, values=fields, errors=exc.errors,
                            hours=ctx.settings.manage_link_hours)
        raise
    if wants_html(request):
        return RedirectResponse("/manage/sent", status_code=303)
    return JSONResponse({"status": "accepted", "detail": MANAGE_ACCEPTED}, status_code=202)


@router.get("/manage/sent", response_class=HTMLResponse)
def manage_sent(ctx: Ctx) -> HTMLResponse:
    """Where a browser's request lands: check your inbox,
    and what to do if nothing comes."""
    return ctx.page("web/manage_sent.html", text=MANAGE_ACCEPTED,
                    hours=ctx.settings.manage_link_hours)
