"""The ESP webhooks providers really send: `POST /webhooks/{ses,mailgun,postmark,sendgrid}`,
each checked by its provider's signature (mailer/inbound/webhooks/) before anything is
acted on. A provider this site has not configured has no route (404)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from mailer.errors import NotFound
from mailer.inbound.webhooks.base import receive
from mailer.web.context import Ctx
from mailer.web.forms import read_body

router = APIRouter()
# A provider batches events (SendGrid up to thousands a POST): a larger limit than forms'.
WEBHOOK_SIZE_FACTOR = 64
Provider = Literal["ses", "mailgun", "postmark", "sendgrid"]
_JSON_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": {}}, "text/plain": {"schema": {"type": "string"}}}}}


@router.post("/webhooks/{provider}", openapi_extra=_JSON_BODY)
async def provider_webhook(provider: Provider, request: Request, ctx: Ctx) -> dict[str, Any]:
    """For Amazon SES (through SNS), Mailgun, Postmark and SendGrid, each as its
    provider sends it: verified by the provider's signature (Postmark's: HTTP Basic
    credentials), then bounces, complaints, unsubscribes and delays are acted on as
    returned mail is. `{"events", "actions": {action: count}}`; `401` without a
    signature, `403` with a wrong, stale or replayed one (nothing is acted on); `404`
    for a provider not configured; `503` when the database is away (the provider
    retries)."""
    found = ctx.webhooks.get(provider)
    if found is None:
        raise NotFound(f"the {provider} webhook is not configured on this site")
    body = await read_body(request, ctx.settings.max_body_bytes * WEBHOOK_SIZE_FACTOR)
    received = await run_in_threadpool(receive, found, ctx.replays,
                                       ctx.feedback.take_attested, request.headers, body)
    return received.as_dict()
