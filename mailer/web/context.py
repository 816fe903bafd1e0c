"""What every route needs, built once by `mailer.services.web_context` and handed to
routes through FastAPI's dependency injection (`Ctx`): settings, stores, the queue,
Redis, the share intake and sign-up guards, and the pages the site shows."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

import jinja2
import redis
from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, Response
from prometheus_client import CollectorRegistry

from mailer.alerts.plan import AlertPlanner
from mailer.articles.model import Article
from mailer.config import Settings
from mailer.digest.compose import DigestMail
from mailer.errors import MailerError, NotFound
from mailer.inbound.intake import FeedbackIntake
from mailer.inbound.webhooks.base import ReplayGuard, WebhookProvider
from mailer.newsletters.offer import NewsletterOffer
from mailer.queue import JobQueue
from mailer.render import Site
from mailer.share.accept import ShareIntake
from mailer.stores import Stores
from mailer.subscriptions.model import Preferences, SectionCatalog
from mailer.tokens import Purpose, Tokens
from mailer.web.clients import client_ip
from mailer.web.errors import error_status
from mailer.web.group_commit import GroupCommit

R = TypeVar("R", bound=Response)


@dataclass(frozen=True)
class WebContext:
    settings: Settings
    stores: Stores
    queue: JobQueue
    redis: redis.Redis  # flood control, metrics, relay health
    pages: jinja2.Environment
    site: Site
    tokens: Tokens
    catalog: SectionCatalog
    defaults: Preferences
    offer: NewsletterOffer  # the newsletters the forms offer
    alerts: AlertPlanner  # breaking news the CMS marks
    api_key: str | None
    metrics_token: str | None  # /metrics asks for it as a bearer token when set
    proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    group_commit: GroupCommit
    share_intake: ShareIntake
    signup_guard: Callable[[str], Callable[[], None]]
    mail_cap: Callable[[str], None]
    metrics: CollectorRegistry
    digest: DigestMail  # the web version of digests
    feedback: FeedbackIntake  # what the ESP webhooks' events are taken by
    webhooks: Mapping[str, WebhookProvider]  # the providers configured, by route name
    replays: ReplayGuard
    closing: tuple[Callable[[], None], ...] = ()  # what close() releases, in order

    def close(self) -> None:
        self.group_commit.close()
        for release in self.closing:
            release()

    def ip_of(self, request: Request) -> str:
        return client_ip(request.client.host if request.client else None, request.headers,
                         self.settings.proxy_header, self.proxies)

    def page(self, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        context.setdefault("catalog", self.catalog)
        context.setdefault("defaults", self.defaults)
        context.setdefault("offer", self.offer)
        for form_state in ("values", "errors", "signup_values", "signup_errors"):
            context.setdefault(form_state, {})
        html = self.pages.get_template(name).render(site=self.site, **context)
        return HTMLResponse(html, status_code=status)

    def message_page(self, title: str, text: str, status: int = 200, next_step: str = "",
                     link: tuple[str, str] | None = None) -> HTMLResponse:
        """`link`: (words, URL) of what the reader may do next."""
        return self.page("web/message.html", status, title=title, text=text,
                         next_step=next_step, link=link)

    def find_article(self, article_id: object) -> Article | None:
        """The article a form names in a field, if it names one we have."""
        if not isinstance(article_id, str) or not 0 < len(article_id) <= 200:
            return None
        try:
            return self.stores.articles.get(article_id.strip())
        except NotFound:
            return None

    def token_page(self, purpose: Purpose | tuple[Purpose, ...], token: str,
                   action: Callable[[str], R]) -> R | HTMLResponse:
        """`action` of what a link's token stands for, or the error page of a forged,
        wrong-purpose or expired link. A page several kinds of link open names each
        purpose it takes."""
        purposes = purpose if isinstance(purpose, tuple) else (purpose,)
        try:
            return action(self.tokens.read_any(purposes, token))
        except MailerError as exc:
            return self.error_page(exc)

    def error_page(self, exc: MailerError) -> HTMLResponse:
        """Links in e-mails and pages are opened in browsers: errors are pages, with the
        status code the JSON API would give, saying what to do next."""
        status = error_status(exc)
        title, next_step = _ERROR_PAGES.get(status, ("Something went wrong",
                                                     "Please try again in a minute."))
        text = str(exc).capitalize().rstrip(".") + "."
        if text.lower().rstrip(".") == title.lower():
            text = ""  # the title says it already
        return self.message_page(title, text, status, next_step.format(site=self.site.name))


_ERROR_PAGES = {
    400: ("This link is not valid",
          "Links in our e-mails work only whole: copy the complete address from the "
          "e-mail, or use the same link in the newest e-mail from {site}."),
    404: ("Page not found",
          "It may have moved or never existed: the front page lists every article."),
    410: ("This link has expired",
          "Links in e-mails stop working after a while: use the one in the newest e-mail "
          "from {site}, ask for a new one under \"Manage my subscriptions\", or sign up "
          "again on the front page."),
    429: ("Please wait", ""),  # the error says how long
    503: ("Please try again in a minute",
          "We could not reach one of our services. Nothing you sent is lost; reload the "
          "page in a minute."),
}


async def web_context(request: Request) -> WebContext:
    """Async on purpose: FastAPI runs a plain function dependency in its thread pool,
    a thread hop per request on the share path."""
    context: WebContext = request.app.state.web
    return context


Ctx = Annotated[WebContext, Depends(web_context)]
