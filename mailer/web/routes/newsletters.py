"""Newsletters over HTTP: anyone may read what is offered (a site's own sign-up widget
needs it); changing it takes the API key, as the CLI takes a shell on the server."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from mailer.errors import InvalidInput
from mailer.newsletters.model import WEEKDAYS, Newsletter, validate_newsletter
from mailer.web.context import Ctx, WebContext
from mailer.web.forms import check_api_key, read_json

router = APIRouter()


def _shown(newsletter: Newsletter, ctx: WebContext) -> dict[str, Any]:
    return {"slug": newsletter.slug, "name": newsletter.name,
            "cadence": newsletter.cadence.value,
            "weekday": WEEKDAYS[newsletter.weekday] if newsletter.weekday is not None
            else None,
            "when": newsletter.when, "sections": list(newsletter.offers(ctx.catalog)),
            "sender_name": newsletter.sender_name, "template": newsletter.template,
            "position": newsletter.position}


async def _body(request: Request, ctx: WebContext) -> dict[str, object]:
    check_api_key(request, ctx.api_key)
    body = await read_json(request, ctx.settings.max_body_bytes)
    if not isinstance(body, dict):
        raise InvalidInput({"body": "must be a JSON object of the newsletter's fields"})
    return body


@router.get("/newsletters")
def list_newsletters(ctx: Ctx) -> dict[str, list[dict[str, Any]]]:
    """What readers can choose, in form order: `{"newsletters": [{slug, name, cadence,
    weekday, when, sections, sender_name, template, position}]}`."""
    return {"newsletters": [_shown(n, ctx) for n in ctx.stores.newsletters.list()]}


@router.post("/newsletters", status_code=201)
async def add_newsletter(request: Request, ctx: Ctx) -> dict[str, Any]:
    """With the API key: `{slug, name, cadence: "immediate"|"daily"|"weekly", weekday, sections
    (list or "all"), sender_name, position}`; `201` the newsletter; `422` naming each
    bad field."""
    body = await _body(request, ctx)
    newsletter = validate_newsletter(body, ctx.catalog)
    await run_in_threadpool(ctx.stores.newsletters.add, newsletter)
    ctx.offer.forget()
    return _shown(newsletter, ctx)


@router.patch("/newsletters/{slug}")
async def change_newsletter(slug: str, request: Request, ctx: Ctx) -> dict[str, Any]:
    """With the API key: the fields to change; `404` for a newsletter not offered."""
    body = await _body(request, ctx)
    existing = await run_in_threadpool(ctx.stores.newsletters.get, slug)
    newsletter = validate_newsletter(body, ctx.catalog, existing=existing)
    await run_in_threadpool(ctx.stores.newsletters.update, newsletter)
    ctx.offer.forget()
    return _shown(newsletter, ctx)


@router.delete("/newsletters/{slug}")
def remove_newsletter(slug: str, request: Request, ctx: Ctx) -> dict[str, int]:
    """With the API key: stop offering it; readers' choices in it go with it
    (`{"choices_removed": n}`). The daily digest cannot be removed (`422`)."""
    check_api_key(request, ctx.api_key)
    removed = ctx.stores.newsletters.remove(slug)
    ctx.offer.forget()
    return {"choices_removed": removed}
