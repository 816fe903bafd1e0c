"""The ESP webhooks providers really send, one route each, each checked by its
provider's signature (mailer/inbound/webhooks/) before anything is acted on. A provider
this site has not configured has no route: 404."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from mailer.errors import NotFound
from mailer.inbound.webhooks.base import receive
from mailer.web.context import Ctx, WebContext
from mailer.web.forms import read_body

router = APIRouter()
# A provider batches events (SendGrid up to thousands a POST): a larger limit than forms'.
WEBHOOK_SIZE_FACTOR = 64
_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {}}}}}


async def _take(name: str, request: Request, ctx: WebContext) -> dict[str, Any]:
    provider = ctx.webhooks.get(name)
    if provider is None:
        raise NotFound(f"the {name} webhook is not configured on this site")
    body = await read_body(request, ctx.settings.max_body_bytes * WEBHOOK_SIZE_FACTOR)
    received = await run_in_threadpool(receive, provider, ctx.replays,
                                       ctx.feedback.take_attested, request.headers, body)
    return received.as_dict()


@router.post("/webhooks/ses", openapi_extra=_BODY)
async def ses_webhook(request: Request, ctx: Ctx) -> dict[str, Any]:
    """Amazon SES bounce, complaint and delivery-delay notifications, through an SNS
    topic named in MAILER_SES_TOPIC_ARNS, signed by SNS; a subscription confirmation is
    confirmed with MAILER_SES_CONFIRM_SUBSCRIPTIONS, else logged.
    `{"events", "actions": {action: count}}`; `401` unsigned, `403` a wrong, stale or
    replayed signature or another topic (nothing is acted on); `404` when not
    configured; `503` when the database is away (SNS retries)."""
    return await _take("ses", request, ctx)


@router.post("/webhooks/mailgun", openapi_extra=_BODY)
async def mailgun_webhook(request: Request, ctx: Ctx) -> dict[str, Any]:
    """Mailgun's failed, complained and unsubscribed events, signed with
    MAILER_MAILGUN_SIGNING_KEY; answers as `/webhooks/ses` does."""
    return await _take("mailgun", request, ctx)


@router.post("/webhooks/postmark", openapi_extra=_BODY)
async def postmark_webhook(request: Request, ctx: Ctx) -> dict[str, Any]:
    """Postmark's bounce, spam complaint and subscription change webhooks, with the
    HTTP Basic credentials MAILER_POSTMARK_WEBHOOK_USER and _PASSWORD (Postmark does not
    sign); answers as `/webhooks/ses` does."""
    return await _take("postmark", request, ctx)


@router.post("/webhooks/sendgrid", openapi_extra=_BODY)
async def sendgrid_webhook(request: Request, ctx: Ctx) -> dict[str, Any]:
    """SendGrid's signed Event Webhook (bounce, dropped, deferred, spamreport,
    unsubscribe), checked with MAILER_SENDGRID_VERIFICATION_KEY; answers as
    `/webhooks/ses` does."""
    return await _take("sendgrid", request, ctx)

