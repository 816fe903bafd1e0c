"""The naive digest sender the benchmark compares against: what a straightforward
Celery + Jinja + premailer implementation does. One task per e-mail; per e-mail a full
render and CSS inlining (premailer, the design card's inliner), a new EmailMessage and a
new SMTP connection. Not used by the product: `celery -A bench.naive worker -Q naive`.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

import dkim
import redis
from celery import Celery

from mailer import services
from mailer.config import load_settings
from mailer.digest.plan import ArticleDays, Variant
from mailer.sending.message import Envelope
from mailer.services import make_digest_mail, make_smtp_backend

settings = load_settings()
app = Celery("naive", broker=settings.redis_url, set_as_current=False)
app.conf.update(task_serializer="json", accept_content=["json"], task_ignore_result=True,
                worker_prefetch_multiplier=4, worker_hijack_root_logger=False)
_state: dict[str, Any] = {}


def _setup() -> dict[str, Any]:
    if _state.get("pid") != os.getpid():
        premailer_settings = settings.model_copy(update={"inliner": "premailer"})
        _state.update(pid=os.getpid(), stores=services.stores(settings, seed=False),
                      mail=make_digest_mail(premailer_settings),
                      counter=redis.Redis.from_url(settings.redis_url))
    return _state


@app.task(name="bench.naive.send_one")
def send_one(subscriber_id: str, edition: str) -> None:
    state = _setup()
    person = state["stores"].subscribers.get(subscriber_id)
    prefs = person.preferences
    variant = Variant(date.fromisoformat(edition), prefs.timezone, prefs.sections)
    articles = ArticleDays(state["stores"].articles).for_variant(variant)
    subject, html, text = state["mail"].render(
        variant, articles, salutation=f"Good morning, {person.name},",
        unsubscribe_url=f"{settings.public_url}/unsubscribe/x",
        preferences_url=f"{settings.public_url}/preferences/x")
    local, _, domain = person.email.rpartition("@")
    # The straightforward way: a new EmailMessage per e-mail.
    message = EmailMessage(policy=policy.SMTP)
    message["From"] = Address(settings.site_name, "news", "today.az")
    message["To"] = Address(person.name, local, domain)
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain=settings.site_domain)
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    envelope = Envelope(message, settings.from_email, person.email)
    if settings.dkim_key_file is not None:
        # The straightforward way: dkimpy's own signing, RSA in pure Python.
        data = envelope.as_bytes()
        envelope = Envelope(dkim.sign(data, settings.dkim_selector.encode(),
                                      settings.signing_domain.encode(),
                                      settings.dkim_key_file.read_bytes()) + data,
                            settings.from_email, person.email)
    backend = make_smtp_backend(settings)
    result = backend.send_messages([envelope])[0]
    backend.close()
    state["counter"].incr("bench:naive:sent" if result.ok else "bench:naive:failed")
