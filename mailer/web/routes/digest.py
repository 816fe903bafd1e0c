"""The web version of a digest edition: the "View in your browser" link of every digest."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from mailer.digest.layout import span_label
from mailer.digest.plan import Variant, edition_bounds, in_sections
from mailer.newsletters.model import DAILY
from mailer.subscriptions.model import parse_timezone
from mailer.web.context import Ctx

router = APIRouter()


@router.get("/digest/{edition}", response_class=HTMLResponse)
def digest_web_version(edition: str, ctx: Ctx, zone: str = "", sections: str = "",
                       newsletter: str = DAILY, days: int = 1) -> HTMLResponse:
    """The digest of `edition` (YYYY-MM-DD, the last day it
    covers) for readers in time zone `zone` who chose `sections` (comma-separated;
    default all) in `newsletter` (default the daily digest) covering `days` (1 to 7),
    as the e-mail shows it but without a name or personal links: the same page for
    every reader of it. `400` a malformed date, zone, section or span; `404` no
    stories."""
    try:
        if len(edition) != 10:
            raise ValueError("the date must read like 2026-11-26")
        day = date.fromisoformat(edition)
        timezone = parse_timezone(zone) if zone else ctx.settings.timezone
        chosen = ctx.catalog.parse(sections) if sections else ctx.defaults.sections
        if not 1 <= days <= 7:
            raise ValueError("a digest covers one to seven days")
        bounds = edition_bounds(day, ZoneInfo(timezone), days)
    except ValueError as exc:
        return ctx.message_page("This link is not valid",
                                f"This digest link is not valid: {exc}. The digests you "
                                "receive each carry a working one.", 400)
    found = ctx.offer.find(newsletter)
    if found is None and newsletter != DAILY:
        return ctx.message_page("No such newsletter",
                                f"{ctx.site.name} offers no newsletter by that name any more; "
                                "the front page lists the ones it does.", 404)
    variant = Variant(day, timezone, chosen, newsletter, days,
                      found.name if found else "", found.sender_name if found else "")
    articles = in_sections(ctx.stores.articles.published_between(*bounds), chosen)
    if not articles:
        return ctx.message_page("No stories then",
                                f"{ctx.site.name} has no stories from "
                                f"{span_label(day, days)} in these sections.", 404)
    return HTMLResponse(ctx.digest.web_page(variant, articles))
