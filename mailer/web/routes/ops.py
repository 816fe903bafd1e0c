"""For operators and their tools: liveness, readiness, Prometheus metrics, and the ops
page (the API key as the Basic-auth password)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import redis
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool

from mailer.delivery.ledger import JobStatus, Kind
from mailer.delivery.recorder import CHARTED
from mailer.errors import MailerError, ServiceUnavailable, Unauthorized
from mailer.models import utcnow
from mailer.ops.metrics import per_minute, quantiles
from mailer.ops.status import collect, relay_states
from mailer.queue import LANES
from mailer.web.context import Ctx, WebContext
from mailer.web.forms import check_api_key

router = APIRouter()


def _check(probe: Callable[[], object]) -> dict[str, object]:
    try:
        probe()
    except Exception as exc:  # any failure is the check's answer, not an error
        return {"ok": False, "detail": f"{type(exc).__name__}: {exc}"[:300]}
    return {"ok": True, "detail": "ok"}


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """`{"status": "ok"}`: the process is up; says nothing of what it
    depends on (that is /readyz)."""
    return {"status": "ok"}


@router.get("/metrics")
def metrics(ctx: Ctx, request: Request) -> Response:
    """Prometheus exposition: counters and histograms kept in Redis (all
    workers on all machines), queue gauges from the broker, relay health
    (docs/operations.md lists the metrics). Keyless unless MAILER_METRICS_TOKEN
    is set: then `Authorization: Bearer <token>`, or 401."""
    if ctx.metrics_token:
        try:
            check_api_key(request, ctx.metrics_token)
        except Unauthorized:
            raise Unauthorized("missing or wrong bearer token (MAILER_METRICS_TOKEN)") from None
    try:
        body = generate_latest(ctx.metrics)
    except redis.RedisError as exc:
        raise ServiceUnavailable(f"metrics unavailable (Redis): {exc}") from None
    return Response(body, media_type=CONTENT_TYPE_LATEST)


def _ops_guard(ctx: WebContext, request: Request) -> Response | None:
    try:
        check_api_key(request, ctx.api_key)
    except Unauthorized as exc:
        return JSONResponse({"detail": str(exc)}, status_code=401,
                            headers={"WWW-Authenticate": 'Basic realm="newsmailer ops"'})
    return None


@router.get("/ops", response_class=HTMLResponse)
def ops_page(request: Request, ctx: Ctx) -> Response:
    """The live ops page: what `mailer status` shows, refreshed every
    2 s, with sent-per-minute for the last hour. `MAILER_API_KEY` as the Basic-auth
    password (any user name), or `X-API-Key`."""
    return _ops_guard(ctx, request) or ctx.page("web/ops.html",
                                                status_url="/ops/status.json",
                                                refresh_ms=2000)


@router.get("/ops/status.json")
async def ops_status(request: Request, ctx: Ctx) -> Response:
    """The ops page's figures as JSON (what `mailer status --json`
    gives, with sent-per-minute); the API key as for /ops."""
    denied = _ops_guard(ctx, request)
    if denied is not None:
        return denied

    def gather() -> dict[str, object]:
        return dashboard(ctx)
    try:
        return JSONResponse(await run_in_threadpool(gather))
    except redis.RedisError as exc:
        raise ServiceUnavailable(f"status unavailable (Redis): {exc}") from None


def dashboard(ctx: WebContext) -> dict[str, object]:
    """`mailer status --json`'s figures, and what only the page shows: outcomes per
    minute per kind, the commonest deferral and failure replies of the hour, SMTP reply
    time; times in the site's zone. Everything is read from Redis and the database,
    so an API restart changes nothing on the page."""
    zone = ctx.settings.zone
    snapshot = collect(ctx.settings, ctx.stores, ctx.redis, ctx.queue, max_age=300,
                       timeout=0.5).as_dict()
    minutes = per_minute(ctx.redis)
    kinds = sorted({field.partition("|")[0] for _, counts in minutes for field in counts}
                   | {Kind.SHARE.value, Kind.DIGEST.value})
    observed, (p50, p99) = quantiles(ctx.redis, "smtp_seconds", (0.5, 0.99))
    now = datetime.now(zone)
    labels = [datetime.fromtimestamp(m * 60, zone).strftime("%H:%M") for m, _ in minutes]
    series = {kind: {outcome: [counts.get(f"{kind}|{outcome}", 0) for _, counts in minutes]
                     for outcome in CHARTED} for kind in kinds}
    snapshot.update(
        timezone=f"{zone.key}, UTC{now:%z}",
        at_local=now.strftime("%H:%M:%S"),
        chart={"minutes": labels, "kinds": series},
        throughput=[{"minute": label, "sent": sum(s["sent"][i] for s in series.values())}
                    for i, label in enumerate(labels)],
        top_replies=[{"status": status, "reply": reply, "messages": n}
                     for status, reply, n in ctx.stores.ledger.top_replies(
                         utcnow() - timedelta(hours=1),
                         [JobStatus.DEFERRED, JobStatus.FAILED], limit=6)],
        smtp_latency={"observed": observed, "p50": p50, "p99": p99},
        next_digest_local=_local(snapshot.get("next_digest"), zone))
    return snapshot


def _local(iso: object, zone: ZoneInfo) -> str | None:
    if not isinstance(iso, str):
        return None
    return datetime.fromisoformat(iso).astimezone(zone).strftime("%d %b %H:%M")


@router.get("/readyz")
def readyz(ctx: Ctx) -> JSONResponse:
    """`200 {"status": "ready", "checks": {"redis", "broker", "database", "workers",
    "relays"}}` when Redis, the queue's broker (the same Redis unless
    MAILER_BROKER_URL names RabbitMQ) and the database answer and at least one worker
    answers a ping within 1 s; else `503` with what each check found. `relays` reports
    unhealthy relays without making the API unready: it still takes shares, which
    wait."""
    checks = {"redis": _check(ctx.redis.ping),
              "broker": _check(lambda: ctx.queue.backlog(LANES[:1])),
              "database": _check(lambda: ctx.stores.ledger.get("readyz") is None)}
    try:
        names = ctx.queue.workers(timeout=1.0)
        checks["workers"] = {"ok": bool(names), "detail": ", ".join(names)
                             or "no worker answered a ping within 1 s"}
    except MailerError as exc:
        checks["workers"] = {"ok": False, "detail": str(exc)}
    ready = all(c["ok"] for c in checks.values())
    # Told, but not part of readiness: the API still takes shares while a relay is
    # down (they wait in the queue), so a load balancer must keep sending it traffic.
    try:
        down = [r for r in relay_states(ctx.settings, ctx.redis) if not r.healthy]
        checks["relays"] = {"ok": not down, "detail": "; ".join(
            f"{r.id}: {r.reason}" for r in down) or "ok"}
    except redis.RedisError as exc:
        checks["relays"] = {"ok": False, "detail": f"unknown (Redis: {exc})"[:300]}
    return JSONResponse({"status": "ready" if ready else "not ready", "checks": checks},
                        status_code=200 if ready else 503)
