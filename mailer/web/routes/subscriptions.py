"""The sign-up form and the links in e-mails: confirm, unsubscribe (with RFC 8058
one-click), preferences. Links are opened in browsers, so their errors are pages."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import parse_qsl, quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from mailer.errors import InvalidInput, MailerError
from mailer.subscriptions.model import (
    DAILY,
    NOTHING_CHOSEN,
    Subscriber,
    SubscriberStatus,
    newsletter_field,
    read_unsubscribe_value,
    validate_preferences,
)
from mailer.subscriptions.notices import queue_welcome
from mailer.subscriptions.signup import links, submit_signup
from mailer.tokens import Purpose
from mailer.web.context import Ctx, WebContext
from mailer.web.forms import SIGNUP_ACCEPTED, SIGNUP_BODY, read_fields, wants_html

router = APIRouter()
# The links that open the preferences page: a digest's, and the one asked for on /manage.
PREFERENCE_LINKS = (Purpose.PREFERENCES, Purpose.MANAGE)

@router.post("/subscribe", status_code=202, openapi_extra=SIGNUP_BODY)
async def subscribe(request: Request, ctx: Ctx) -> Response:
    """`email`, `name` (optional), `sections` (a list,
    repeated form fields, or one comma-separated string; default all), `timezone` (IANA
    name or city; default `timezone_hint`, the zone the browser reports, when it is a
    known one, else `MAILER_TIMEZONE`), `hour` (0-23; default `MAILER_DIGEST_HOUR`).
    `202 {"status": "accepted", "detail"}`, the same whatever the address's state, so
    the form tells nobody who is subscribed; `422` with per-field errors. A browser's
    form post is answered `303` to a "check your inbox" page, or with the page it came
    from (`article_id`: an article page) showing the errors."""
    settings = ctx.settings
    offered = await run_in_threadpool(ctx.offer.others)
    fields = await read_fields(request, settings.max_body_bytes, lists=_lists(offered))
    if fields.get("form") == "signup":
        # The site's own form: every box unticked means none, as on the preferences
        # page (one rule); an API client that names no sections gets the default.
        fields.setdefault("sections", [])
    try:
        await run_in_threadpool(
            submit_signup, fields, catalog=ctx.catalog, default=ctx.defaults, offered=offered,
            store=ctx.stores.subscribers, ledger=ctx.stores.ledger, queue=ctx.queue,
            resend_after=settings.confirm_resend_after,
            check_deliverability=settings.check_deliverability,
            guard=ctx.signup_guard(ctx.ip_of(request)), mail_cap=ctx.mail_cap)
    except InvalidInput as exc:
        if wants_html(request):
            return await run_in_threadpool(_signup_with_errors, ctx, fields, exc.errors)
        raise
    if wants_html(request):
        article = ctx.find_article(fields.get("article_id"))
        back = f"?article={quote(article.id)}" if article else ""
        return RedirectResponse(f"/subscribed{back}", status_code=303)
    return JSONResponse({"status": "accepted", "detail": SIGNUP_ACCEPTED}, status_code=202)


def _lists(offered: Mapping[str, object]) -> set[str]:
    """The form's checkbox fields: the daily digest's and each other newsletter's."""
    return {newsletter_field(slug) for slug in (DAILY, *offered)}


def _signup_with_errors(ctx: WebContext, fields: dict[str, object],
                        errors: dict[str, str]) -> HTMLResponse:
    """The page the form was on, with the errors: the article's, or the front page."""
    values = {**fields, "sections": fields.get("sections", [])}  # none ticked stays so
    article = ctx.find_article(fields.get("article_id"))
    if article is not None:
        return ctx.page("web/article.html", 422, article=article, values={}, errors={},
                        signup_values=values, signup_errors=errors)
    return ctx.page("web/index.html", 422, articles=ctx.stores.articles.all(),
                    signup_values=values, signup_errors=errors)


@router.get("/subscribed", response_class=HTMLResponse)
def subscribed(ctx: Ctx, article: str = "") -> HTMLResponse:
    """Where a browser's sign-up lands: check your inbox,
    and a way back to the article it was on."""
    back = ctx.find_article(article)
    return ctx.page("web/subscribed.html", article=back, text=SIGNUP_ACCEPTED)


@router.get("/confirm/{token}", response_class=HTMLResponse)
def confirm(token: str, ctx: Ctx) -> HTMLResponse:
    """Activates the sign-up and queues the welcome e-mail
    (one per confirmation, however often the link is opened); a page (`400` a forged
    or wrong-purpose link, `410` expired, `404` the sign-up is gone)."""
    def action(subscriber_id: str) -> HTMLResponse:
        subscriber = ctx.stores.subscribers.confirm(subscriber_id)
        queue_welcome(subscriber, ledger=ctx.stores.ledger, queue=ctx.queue)  # once
        return ctx.page("web/confirmed.html", subscriber=subscriber,
                        links=links(ctx.tokens, ctx.settings.public_url, subscriber.id))
    return ctx.token_page(Purpose.CONFIRM, token, action)


@router.get("/unsubscribe/{token}", response_class=HTMLResponse)
def unsubscribe_form(token: str, ctx: Ctx) -> HTMLResponse:
    """A page with the masked address: leave the newsletter
    the link came from, everything, or choose fewer sections instead; changes nothing
    (mail scanners and link previews fetch GETs)."""
    def action(value: str) -> HTMLResponse:
        subscriber_id, newsletter = read_unsubscribe_value(value)
        subscriber = ctx.stores.subscribers.get(subscriber_id)
        chosen = subscriber.preferences
        others = [n.name for n in ctx.offer.all() if n.slug != newsletter and (
            chosen.chosen(n.slug))]
        return ctx.page("web/unsubscribe.html", subscriber=subscriber, token=token,
                        newsletter=_name(ctx, newsletter), others=others,
                        preferences_url=links(ctx.tokens, ctx.settings.public_url,
                                              subscriber.id)["preferences"])
    return ctx.token_page(Purpose.UNSUBSCRIBE, token, action)


@router.post("/unsubscribe/{token}", response_class=HTMLResponse)
async def unsubscribe(token: str, request: Request, ctx: Ctx) -> HTMLResponse:
    """Leaves at once the newsletter the link came from
    (`scope=everything`: every newsletter): `200`, no redirect (RFC 8058 one-click;
    any other body, e.g. `List-Unsubscribe=One-Click`, leaves that one newsletter)."""
    everything = await _scope_is_everything(request)

    def action(value: str) -> HTMLResponse:
        subscriber_id, newsletter = read_unsubscribe_value(value)
        store = ctx.stores.subscribers
        left = store.unsubscribe(subscriber_id) if everything \
            else store.leave(subscriber_id, newsletter)
        if left.status is SubscriberStatus.UNSUBSCRIBED:
            return ctx.message_page(
                "You are unsubscribed",
                f"{left.masked_email} will get no more e-mail from {ctx.site.name}.",
                link=("Changed your mind? Resubscribe", links(
                    ctx.tokens, ctx.settings.public_url, left.id)["preferences"]))
        return ctx.message_page("You are unsubscribed",
                                f"{left.masked_email} will get no more "
                                f"{_name(ctx, newsletter)} e-mails from {ctx.site.name}. The other "
                                "newsletters you chose still come: the link at the foot of "
                                "each changes them.")
    return await run_in_threadpool(ctx.token_page, Purpose.UNSUBSCRIBE, token, action)


async def _scope_is_everything(request: Request) -> bool:
    """Only the page's own form asks for everything; a mailbox provider's one-click
    POST, whatever its body, leaves one newsletter."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != \
            "application/x-www-form-urlencoded":
        return False
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > 4096:
            return False
    fields = dict(parse_qsl(body.decode("utf-8", "replace"), max_num_fields=20))
    return fields.get("scope") == "everything"


def _name(ctx: WebContext, newsletter: str) -> str:
    """The newsletter as readers know it: its name, quoted."""
    found = ctx.offer.find(newsletter)
    if found is not None:
        return f"\u201c{found.name}\u201d"
    return "daily digest" if newsletter == DAILY else "newsletter"


@router.get("/preferences/{token}", response_class=HTMLResponse)
def preferences_form(token: str, ctx: Ctx, saved: bool = False) -> HTMLResponse:
    """The preferences page: sections (checkboxes), hour, time zone (a city, offered
    as a list: "Baku (Asia), UTC+04:00"). The token is a preferences link's (from a
    digest, valid a year) or a manage link's (asked for on `/manage`, valid
    `MAILER_MANAGE_LINK_HOURS`)."""
    def action(subscriber_id: str) -> HTMLResponse:
        subscriber = ctx.stores.subscribers.get(subscriber_id)
        chosen = subscriber.preferences
        # No "timezone": the field shows the zone as its list names it (zone_label).
        values: dict[str, object] = {"sections": list(chosen.sections), "hour": chosen.hour,
                                     "at_night": chosen.at_night}
        values.update({newsletter_field(slug): list(sections)
                       for slug, sections in chosen.newsletters})
        return _preferences_page(ctx, subscriber, token, values, {}, saved=saved)
    return ctx.token_page(PREFERENCE_LINKS, token, action)


def _preferences_page(ctx: WebContext, subscriber: Subscriber, token: str,
                      values: dict[str, object], errors: dict[str, str],
                      status: int = 200, saved: bool = False) -> HTMLResponse:
    return ctx.page("web/preferences.html", status, subscriber=subscriber, token=token,
                    values=values, errors=errors, saved=saved,
                    unsubscribe_url=links(ctx.tokens, ctx.settings.public_url,
                                          subscriber.id)["unsubscribe"])


@router.post("/preferences/{token}", response_class=HTMLResponse)
async def preferences(token: str, request: Request, ctx: Ctx) -> Response:
    """Saves the preferences: `303` back to the page,
    which says they are saved; `422` the page with the errors and what was chosen."""
    try:
        ctx.tokens.read_any(PREFERENCE_LINKS, token)  # a bad link says so before the body
    except MailerError as exc:
        return ctx.error_page(exc)
    offered = await run_in_threadpool(ctx.offer.others)
    fields = await read_fields(request, ctx.settings.max_body_bytes, lists=_lists(offered))
    fields.setdefault("sections", [])

    def action(subscriber_id: str) -> Response:
        subscriber = ctx.stores.subscribers.get(subscriber_id)
        chosen, errors = validate_preferences(fields, ctx.catalog,
                                              default=subscriber.preferences, offered=offered)
        if not any(fields.get(field) for field in _lists(offered)):
            errors["sections"] = f"{NOTHING_CHOSEN}, or unsubscribe below"
        if errors:
            # Shown again as posted; a field left out (or a JSON client's partial
            # change) shows what is saved, not nothing: the page needs every field.
            now = subscriber.preferences
            shown = {"hour": now.hour, "timezone": now.timezone, "at_night": now.at_night,
                     **fields}
            return _preferences_page(ctx, subscriber, token, shown, errors, 422)
        # The link came to their mailbox: following it again is consent enough to
        # resubscribe (the unsubscribed page's undo), as it is to change anything.
        ctx.stores.subscribers.update_preferences(subscriber_id, chosen,
                                                  resubscribe=fields.get("resubscribe") == "1")
        return RedirectResponse(f"/preferences/{token}?saved=1", status_code=303)
    return await run_in_threadpool(ctx.token_page, PREFERENCE_LINKS, token, action)
