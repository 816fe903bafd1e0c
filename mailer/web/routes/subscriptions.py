"""The sign-up form and the links in e-mails: confirm, unsubscribe (with RFC 8058
one-click), preferences. Links are opened in browsers, so their errors are pages."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from mailer.errors import InvalidInput, MailerError
from mailer.services import resend_after
from mailer.subscriptions.signup import links, submit_signup
from mailer.subscriptions.store import Subscriber, validate_preferences
from mailer.tokens import Purpose
from mailer.web.context import Ctx, WebContext
from mailer.web.forms import SIGNUP_BODY, read_fields, wants_html

router = APIRouter()
SIGNUP_ACCEPTED = ("If this address can receive mail, a message with a confirmation link "
                   "is on its way to it.")


@router.post("/subscribe", status_code=202, openapi_extra=SIGNUP_BODY)
async def subscribe(request: Request, ctx: Ctx) -> Response:
    """`email`, `name` (optional), `sections` (a list,
    repeated form fields, or one comma-separated string; default all), `timezone` (IANA
    name; default `MAILER_TIMEZONE`), `hour` (0-23; default `MAILER_DIGEST_HOUR`).
    `202 {"status": "accepted", "detail"}`, the same whatever the address's state, so
    the form tells nobody who is subscribed; `422` with per-field errors."""
    settings = ctx.settings
    fields = await read_fields(request, settings.max_body_bytes, lists={"sections"})
    try:
        await run_in_threadpool(
            submit_signup, fields, catalog=ctx.catalog, default=ctx.defaults,
            store=ctx.db.subscribers, ledger=ctx.db.ledger, queue=ctx.queue,
            resend_after=resend_after(settings),
            check_deliverability=settings.check_deliverability,
            guard=ctx.signup_guard(ctx.ip_of(request)), mail_cap=ctx.mail_cap)
    except InvalidInput as exc:
        if wants_html(request):
            return ctx.page("web/index.html", 422, articles=ctx.db.articles.all(),
                            values=fields, errors=exc.errors)
        raise
    if wants_html(request):
        return ctx.message_page("Check your inbox", SIGNUP_ACCEPTED, 202)
    return JSONResponse({"status": "accepted", "detail": SIGNUP_ACCEPTED}, status_code=202)


@router.get("/confirm/{token}", response_class=HTMLResponse)
def confirm(token: str, ctx: Ctx) -> HTMLResponse:
    """Activates the sign-up; a page (`400` a forged or
    wrong-purpose link, `410` expired, `404` the sign-up is gone)."""
    def action(subscriber_id: str) -> HTMLResponse:
        subscriber = ctx.db.subscribers.confirm(subscriber_id)
        return ctx.page("web/confirmed.html", subscriber=subscriber,
                        links=links(ctx.tokens, ctx.settings.public_url, subscriber.id))
    return ctx.token_page(Purpose.CONFIRM, token, action)


@router.get("/unsubscribe/{token}", response_class=HTMLResponse)
def unsubscribe_form(token: str, ctx: Ctx) -> HTMLResponse:
    """A page with the masked address and an
    Unsubscribe button; changes nothing (mail scanners and link previews fetch GETs)."""
    # Changes nothing: mail scanners and link previews fetch GETs.
    def action(subscriber_id: str) -> HTMLResponse:
        return ctx.page("web/unsubscribe.html",
                        subscriber=ctx.db.subscribers.get(subscriber_id), token=token)
    return ctx.token_page(Purpose.UNSUBSCRIBE, token, action)


@router.post("/unsubscribe/{token}", response_class=HTMLResponse)
def unsubscribe(token: str, ctx: Ctx) -> HTMLResponse:
    """Unsubscribes at once: `200`, no redirect (RFC 8058
    one-click; any body, e.g. `List-Unsubscribe=One-Click`)."""
    # RFC 8058 one-click: the mailbox provider POSTs "List-Unsubscribe=One-Click";
    # whatever the body, the answer is 200 and the address is off the list now.
    def action(subscriber_id: str) -> HTMLResponse:
        subscriber = ctx.db.subscribers.unsubscribe(subscriber_id)
        return ctx.message_page("You are unsubscribed",
                                f"{subscriber.masked_email} will get no more digests from "
                                f"{ctx.site.name}.")
    return ctx.token_page(Purpose.UNSUBSCRIBE, token, action)


@router.get("/preferences/{token}", response_class=HTMLResponse)
def preferences_form(token: str, ctx: Ctx) -> HTMLResponse:
    """The preferences page: sections (checkboxes),
    hour, time zone."""
    def action(subscriber_id: str) -> HTMLResponse:
        return _preferences_page(ctx, ctx.db.subscribers.get(subscriber_id), token, {})
    return ctx.token_page(Purpose.PREFERENCES, token, action)


def _preferences_page(ctx: WebContext, subscriber: Subscriber, token: str,
                      errors: dict[str, str], status: int = 200,
                      saved: bool = False) -> HTMLResponse:
    return ctx.page("web/preferences.html", status, subscriber=subscriber, token=token,
                    errors=errors, saved=saved,
                    unsubscribe_url=links(ctx.tokens, ctx.settings.public_url,
                                          subscriber.id)["unsubscribe"])


@router.post("/preferences/{token}", response_class=HTMLResponse)
async def preferences(token: str, request: Request, ctx: Ctx) -> HTMLResponse:
    """Saves the preferences; `422` the page with the
    errors."""
    try:
        ctx.tokens.read(Purpose.PREFERENCES, token)  # a bad link says so before the body
    except MailerError as exc:
        return ctx.error_page(exc)
    fields = await read_fields(request, ctx.settings.max_body_bytes, lists={"sections"})
    fields.setdefault("sections", [])

    def action(subscriber_id: str) -> HTMLResponse:
        subscriber = ctx.db.subscribers.get(subscriber_id)
        chosen, errors = validate_preferences(fields, ctx.catalog,
                                              default=subscriber.preferences)
        if not fields["sections"]:
            errors["sections"] = "choose at least one section, or unsubscribe below"
        if errors:
            return _preferences_page(ctx, subscriber, token, errors, 422)
        updated = ctx.db.subscribers.update_preferences(subscriber_id, chosen)
        return _preferences_page(ctx, updated, token, {}, saved=True)
    return await run_in_threadpool(ctx.token_page, Purpose.PREFERENCES, token, action)
