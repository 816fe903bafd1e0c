"""The embedded stack and the demo: everything a newcomer needs on one machine.

`run_stack` starts a private Redis, the SMTP sink, a Celery worker and the API (the
queue in that Redis too, unless MAILER_BROKER_URL names a broker, such as RabbitMQ);
`run_demo` uses them to share the seed article through the real API and waits until
the worker has delivered it over SMTP.
"""

from __future__ import annotations

import email
import json
import re
import secrets
import shlex
import signal
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email import policy
from email.message import EmailMessage
from pathlib import Path

from pydantic import SecretStr

from mailer.articles.files import read_seed_articles
from mailer.config import Settings
from mailer.db import upgrade
from mailer.errors import ServiceUnavailable
from mailer.local.embedded import ApiServer, RedisServer, WorkerProcess, free_port, worker_env
from mailer.local.sink import start_sink


@dataclass(frozen=True)
class Stack:
    settings: Settings
    api_url: str
    worker_log: Path
    api_key: str
    generated_key: bool  # no MAILER_API_KEY was set: this one lives as long as the stack

    def exports(self) -> str:
        """The shell line that points `mailer` in another terminal at this stack."""
        values = {"MAILER_REDIS_URL": self.settings.redis_url,
                  **({"MAILER_BROKER_URL": self.settings.broker_url}
                     if self.settings.broker_url else {}),
                  "MAILER_DATABASE_URL": self.settings.database,
                  "MAILER_SMTP_URL": self.settings.smtp_url,
                  "MAILER_VAR_DIR": str(self.settings.var_dir.resolve()),
                  "MAILER_API_KEY": self.api_key}
        return "export " + " ".join(f"{name}={shlex.quote(value)}"
                                    for name, value in values.items())


@contextmanager
def run_stack(base: Settings, *, api_port: int | None = None) -> Iterator[Stack]:
    """Starts everything, yields, stops everything (in reverse order) even on errors."""
    from mailer import services
    from mailer.web.app import create_app

    var = base.var_dir
    with services.database(base) as engine:
        upgrade(engine)
    with ExitStack() as stack:
        # Kept on disk: the queue, and the figures /ops shows, outlive a restart.
        redis_server = RedisServer(var / "redis", append_only=True).start()
        stack.callback(redis_server.stop)
        smtp_port = free_port()
        sink = start_sink(base.outbox_dir, port=smtp_port)
        stack.callback(sink.stop)
        api_port = api_port or free_port()
        api_key = base.api_key.get_secret_value() if base.api_key else \
            secrets.token_urlsafe(18)
        settings = base.model_copy(update={
            "redis_url": redis_server.url, "smtp_url": f"smtp://127.0.0.1:{smtp_port}",
            "public_url": f"http://127.0.0.1:{api_port}", "demo": True,
            "api_key": SecretStr(api_key)})
        worker = WorkerProcess(worker_env(settings), var / "log" / "worker.log").start()
        stack.callback(worker.stop)
        api = ApiServer(create_app(settings), port=api_port).start()
        stack.callback(api.stop)
        if threading.current_thread() is threading.main_thread():
            # SIGTERM (a service manager, `timeout`, `kill`) must unwind this stack like
            # Ctrl-C does, or the Redis and worker children outlive us.
            previous = signal.signal(signal.SIGTERM, _interrupt)
            stack.callback(signal.signal, signal.SIGTERM, previous)
        yield Stack(settings, api.url, worker.log_path, api_key, base.api_key is None)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _http(method: str, url: str, body: dict[str, object] | None = None) -> dict[str, object]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise ServiceUnavailable(f"{method} {url}: {exc.code} {exc.read().decode()}") from None


def wait_for_job(api_url: str, job_id: str, timeout: float) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while True:
        job = _http("GET", f"{api_url}/jobs/{job_id}")
        if job["status"] in {"sent", "failed"} or time.monotonic() > deadline:
            return job
        time.sleep(0.1)


def save_preview(eml: Path, out_dir: Path) -> tuple[Path, Path]:
    message = email.message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert isinstance(message, EmailMessage)
    out_dir.mkdir(parents=True, exist_ok=True)
    html_path, text_path = out_dir / f"{eml.stem}.html", out_dir / f"{eml.stem}.txt"
    html_part = message.get_body(("html",))
    text_part = message.get_body(("plain",))
    html_path.write_text(html_part.get_content() if html_part else "", encoding="utf-8")
    text_path.write_text(text_part.get_content() if text_part else "", encoding="utf-8")
    return html_path, text_path


def run_demo(base: Settings, echo: Callable[[str], None] = print, timeout: float = 60) -> int:
    article = read_seed_articles(base.seeds_dir)[0]
    started = time.monotonic()
    with run_stack(base) as stack:
        echo(f"stack up in {time.monotonic() - started:.1f} s: redis {stack.settings.redis_url}, "
             f"smtp {stack.settings.smtp_url}, api {stack.api_url}")
        accepted = _http("POST", f"{stack.api_url}/share", {
            "article_id": article.id,
            "sender_name": "Aysel Məmmədova", "sender_email": "aysel@example.com",
            "friend_name": "Vüqar Əliyev", "friend_email": "vuqar@example.org",
            "message": "Worth reading: the NAM statement is quoted in full.",
        })
        job_id = str(accepted["job_id"])
        echo(f"POST /share -> 202, job {job_id}")
        job = wait_for_job(stack.api_url, job_id, timeout)
        echo(f"job {job_id}: {job['status']} after {job['attempts']} attempt(s): "
             f"{job['last_reply']}")
        if job["status"] != "sent":
            echo(f"not delivered; worker log: {stack.worker_log}")
            return 1
        names = str(job["last_reply"]).rsplit("queued as ", 1)[-1].split(",")
        eml = base.outbox_dir / names[0]
        html_path, text_path = save_preview(eml, base.var_dir / "preview")
        echo(f"delivered message: {eml}")
        echo(f"HTML preview:      {html_path}")
        echo(f"text part:         {text_path}")
        _forget_demo_readers(stack.settings)  # so the demo runs the same every time
        since = time.time()
        for reader in DEMO_READERS:
            _http("POST", f"{stack.api_url}/subscribe", reader)
            echo(f"POST /subscribe {reader['email']} -> 202")
        _confirm_readers(base.outbox_dir, stack.api_url, since, timeout, echo)
        active = _active_subscribers(stack.settings)
        echo(f"active subscribers: {', '.join(sorted(active)) or 'none'}")
        if not {str(r["email"]) for r in DEMO_READERS} <= active:
            return 1
        edition = article.published.astimezone(base.zone).date()
        counts = _run_digest(stack.settings, edition, timeout)
        echo(f"digest of {edition}: {counts}")
        for reader in DEMO_READERS:
            digest_eml, _ = wait_for_message(base.outbox_dir, str(reader["email"]), since,
                                             timeout, lambda m: "daily digest" in str(m["List-Id"]))
            html_path, _ = save_preview(digest_eml, base.var_dir / "preview")
            echo(f"digest for {reader['email']}: {digest_eml} (HTML: {html_path})")
    echo(f"stack stopped; demo took {time.monotonic() - started:.1f} s")
    return 0


DEMO_READERS: list[dict[str, object]] = [
    {"email": "leyla@example.com", "name": "Leyla Quliyeva", "sections": ["politics"]},
    {"email": "tural@example.net", "name": "Tural Həsənli", "sections": ["politics", "economy"],
     "timezone": "Europe/Berlin", "hour": 8},
]


def _confirm_readers(outbox: Path, api_url: str, since: float, timeout: float,
                     echo: Callable[[str], None]) -> None:
    """Follow each demo reader's confirmation link, and wait for the welcome it brings."""
    prefix = f"{api_url}/confirm/"
    for reader in DEMO_READERS:
        email_address = str(reader["email"])
        _, confirmation = wait_for_message(outbox, email_address, since, timeout,
                                           lambda m: link_in(m, prefix) is not None)
        with urllib.request.urlopen(str(link_in(confirmation, prefix)), timeout=10) as response:
            status = response.status
        echo(f"confirmation link for {email_address} followed: HTTP {status}")
        welcome, _ = wait_for_message(outbox, email_address, since, timeout,
                                      lambda m: str(m["Subject"]).startswith("Welcome"))
        echo(f"welcome for {email_address}: {welcome}")


def wait_for_message(outbox: Path, recipient: str, since: float, timeout: float,
                     accept: Callable[[EmailMessage], bool]) -> tuple[Path, EmailMessage]:
    """The first message the sink stored for `recipient` after `since` (a time.time()
    value) that `accept` takes."""
    deadline = time.monotonic() + timeout
    marker = f"X-Envelope-To: {recipient}\r\n".encode()
    while time.monotonic() < deadline:
        for path in outbox.glob("*.eml"):
            if path.stat().st_mtime < since - 1:
                continue
            raw = path.read_bytes()
            if marker not in raw[:500]:
                continue
            message = email.message_from_bytes(raw, policy=policy.default)
            assert isinstance(message, EmailMessage)
            if accept(message):
                return path, message
        time.sleep(0.1)
    raise ServiceUnavailable(f"the expected message did not reach {recipient}")


def link_in(message: EmailMessage, prefix: str) -> str | None:
    part = message.get_body(("plain",))
    found = re.search(re.escape(prefix) + r"\S+", part.get_content() if part else "")
    return found.group(0) if found else None


def _run_digest(settings: Settings, edition: date, timeout: float) -> str:
    """What `mailer digest run --date` does: plan the edition now, wait until sent."""
    from mailer import services
    from mailer.delivery.ledger import summarise

    with services.stores(settings, seed=False) as stores, \
            services.job_queue(settings) as queue:
        report = services.make_planner(settings, stores, queue).plan(datetime.now(UTC),
                                                                     edition)
        if not report.run_id:
            return "nothing due"
        return summarise(stores.ledger.wait_for_run(report.run_id, report.planned, timeout))


def _forget_demo_readers(settings: Settings) -> None:
    from mailer import services

    with services.stores(settings, seed=False) as stores:
        for reader in DEMO_READERS:
            stores.subscribers.delete(str(reader["email"]))


def _active_subscribers(settings: Settings) -> set[str]:
    from mailer import services
    from mailer.subscriptions.model import SubscriberStatus

    with services.stores(settings, seed=False) as stores:
        return {s.email for s in stores.subscribers.list(SubscriberStatus.ACTIVE)}
