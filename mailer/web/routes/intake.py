"""What the site's systems post, with the API key: articles from the CMS, bounces and
complaints from the relay or ESP."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from mailer.articles.model import breaking_of, parse_article
from mailer.delivery.bounces import parse_bounces, record_bounces
from mailer.web.context import Ctx
from mailer.web.forms import BOUNCE_BODY, check_api_key, read_json

router = APIRouter()
# A CMS may post a day's articles at once: a larger limit than the forms'.
INTAKE_SIZE_FACTOR = 64


@router.post("/articles")
async def import_articles(request: Request, ctx: Ctx) -> dict[str, Any]:
    """For the site's CMS: one article object or a list, as
    JSON, with `Authorization: Bearer <MAILER_API_KEY>` or `X-API-Key: <key>`; an
    article with `"breaking": true` goes to its section's breaking-news readers (once a
    story). `{"imported": n, "alerts": [{"article", "run_id", "new"}]}`; `401`
    without or with a wrong key (or when no key is configured); `422` naming the bad
    item and field."""
    check_api_key(request, ctx.api_key)
    body = await read_json(request, ctx.settings.max_body_bytes * INTAKE_SIZE_FACTOR)
    items = body if isinstance(body, list) else [body]
    marked = [breaking_of(item, f"[{i}]") for i, item in enumerate(items)]
    articles = [parse_article(item, f"[{i}]") for i, (item, _) in enumerate(marked)]
    count = await run_in_threadpool(ctx.stores.articles.put_many, articles)
    alerts = []
    for article, (_, breaking) in zip(articles, marked, strict=True):
        if breaking:
            run, new = await run_in_threadpool(ctx.alerts.publish, article.id,
                                               datetime.now(UTC))
            alerts.append({"article": article.id, "run_id": run.id, "new": new})
    return {"imported": count, "alerts": alerts}


@router.post("/webhooks/bounce", openapi_extra=BOUNCE_BODY)
async def bounce_webhook(request: Request, ctx: Ctx) -> dict[str, int]:
    """For the relay or ESP, with the API key:
    `{"email", "type": "hard"|"soft"|"complaint", "reason"}`, a list of them, or
    `{"bounces": [...]}` (up to 1,000). Hard bounces and complaints are suppressed, soft
    ones only counted; `{"suppressed", "already_suppressed", "soft"}`; `422` naming the
    bad item and field."""
    check_api_key(request, ctx.api_key)
    body = await read_json(request, ctx.settings.max_body_bytes * INTAKE_SIZE_FACTOR)
    report = await run_in_threadpool(record_bounces, ctx.stores.suppressions, parse_bounces(body))
    return report.as_dict()
