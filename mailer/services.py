"""All wiring, in one place: the library's objects built from settings, for the entry
points only (the API's app factory, the CLI, the Celery worker, the benches). What
holds a connection is handed out as a context manager, so whoever opens it closes it:

    with services.stores(settings) as stores: ...
    with services.web_context(settings) as context: ...       # create_app
    with services.worker_services(settings, queue) as local: ...

`make_engine` is called here and nowhere else in the library.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING

import jinja2
import redis
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine

from mailer.alerts.plan import AlertPlanner
from mailer.alerts.rules import AlertRules, QuietHours
from mailer.articles.files import read_seed_articles
from mailer.articles.stores import SqlArticleStore
from mailer.config import Settings
from mailer.db import check_schema, make_engine, session_factory
from mailer.delivery.attempts import configure_attempt_log
from mailer.delivery.deliverer import Deliverer
from mailer.delivery.ledger import DeliveryLedger
from mailer.delivery.recorder import MetricsRecorder
from mailer.delivery.retry import RetryPolicy
from mailer.delivery.suppression import SuppressionStore
from mailer.digest.compose import DigestMail
from mailer.digest.plan import ArticleDays, DigestPlanner
from mailer.digest.runs import DigestRuns, FailureWindow, PausePolicy
from mailer.digest.send import DigestSender
from mailer.errors import ConfigError
from mailer.inbound.feedback import FeedbackStore
from mailer.inbound.handoff import Handoff
from mailer.inbound.intake import FeedbackIntake, SoftBounces
from mailer.inbound.mailbox import MailboxPoller, MailboxUrl
from mailer.inbound.receiver import Limits, Mailboxes, Receiver
from mailer.inbound.run_pause import FeedbackPause
from mailer.inbound.webhooks.base import ReplayGuard, WebhookProvider
from mailer.limits.buckets import RedisBuckets
from mailer.limits.flood import FloodGate, address_key
from mailer.limits.pacing import Pacer, PacingPolicy
from mailer.limits.parsing import (
    Quota,
    parse_domain_rates,
    parse_networks,
    parse_quota,
    parse_rate,
)
from mailer.limits.repeat_window import RepeatWindow
from mailer.newsletters.offer import NewsletterOffer
from mailer.newsletters.store import NewsletterStore
from mailer.ops.feedback_metrics import FeedbackCollector
from mailer.ops.feedback_status import pause_policy
from mailer.ops.metrics import RedisCollector, ServiceCollector
from mailer.queue import LANES, JobQueue, load_job_queue
from mailer.render import Site, TemplateMail, make_environment
from mailer.sending.backends.base import EmailBackend
from mailer.sending.backends.dkim import DkimBackend
from mailer.sending.backends.relays import Relay, RelayPool
from mailer.sending.backends.smtp import SmtpBackend
from mailer.sending.dkim import DkimSigner, load_signer
from mailer.sending.message import ReturnPath
from mailer.sending.relay_health import RelayHealth
from mailer.share.accept import ShareIntake
from mailer.share.guards import ShareGuards
from mailer.share.mail import ShareMail
from mailer.share.render import ShareRenderer
from mailer.stores import Stores
from mailer.subscriptions.model import Preferences, SectionCatalog
from mailer.subscriptions.signup import ConfirmMail
from mailer.subscriptions.store import SubscriberStore
from mailer.subscriptions.zones import zone_choices, zone_in_words, zone_label
from mailer.tokens import Purpose, ReturnPaths, Tokens

if TYPE_CHECKING:
    from mailer.web.context import WebContext

# The web app's parts (FastAPI, the webhook providers' crypto) are imported where the
# web context is built, so a CLI command that never serves a page does not pay for them.


def stores(settings: Settings, *, seed: bool = True) -> Stores:
    """The database's stores, after checking its schema is current; with `seed`, the
    shipped seed articles are upserted (idempotent). Use in a `with` block."""
    engine = make_engine(settings.database)
    try:
        check_schema(engine)
    except BaseException:
        engine.dispose()
        raise
    sessions = session_factory(engine)
    # The ledger's own connections commit without waiting for the disk: see make_engine.
    ledger_engine = make_engine(settings.database, durable_commits=False)
    ledger = DeliveryLedger(session_factory(ledger_engine))
    opened = Stores(engine, sessions, SqlArticleStore(sessions), SubscriberStore(sessions),
                    ledger, SuppressionStore(sessions), DigestRuns(sessions, ledger),
                    FeedbackStore(sessions), ledger_engine, NewsletterStore(sessions))
    if seed:
        try:
            opened.articles.put_many(read_seed_articles(settings.seeds_dir))
        except BaseException:
            opened.close()
            raise
    return opened


@contextmanager
def database(settings: Settings) -> Iterator[Engine]:
    """The database itself, schema unchecked: for migrating it."""
    engine = make_engine(settings.database)
    try:
        yield engine
    finally:
        engine.dispose()


@contextmanager
def job_queue(settings: Settings) -> Iterator[JobQueue]:
    queue = load_job_queue(settings)
    try:
        yield queue
    finally:
        queue.close()


@contextmanager
def redis_client(settings: Settings) -> Iterator[redis.Redis]:
    client = make_redis(settings)
    try:
        yield client
    finally:
        client.close()


def site_of(settings: Settings) -> Site:
    return Site(settings.site_name, settings.site_url, settings.site_domain, settings.zone,
                settings.postal_address, settings.privacy_url, settings.logo_url)


def make_renderer(settings: Settings) -> ShareRenderer:
    env = make_environment(settings.templates_dir, settings.zone)
    tokens = make_tokens(settings)
    return ShareRenderer(env, site_of(settings), settings.inliner, lambda address: (
        f"{settings.public_url}/refuse-shares/{tokens.make(Purpose.REFUSE_SHARES, address)}"))


def make_template_mail(settings: Settings) -> TemplateMail:
    env = make_environment(settings.templates_dir, settings.zone)
    return TemplateMail(env, site_of(settings), settings.inliner)


def make_smtp_backend(settings: Settings) -> SmtpBackend:
    return SmtpBackend(settings.smtp, local_hostname=settings.site_domain)


def make_redis(settings: Settings) -> redis.Redis:
    return redis.Redis.from_url(settings.redis_url, socket_timeout=5,
                                socket_connect_timeout=5)


def check_redis(settings: Settings) -> None:
    """Raises redis' ConnectionError when Redis is away, ServiceUnavailable naming the
    broker when a broker of its own (MAILER_BROKER_URL) is: commands that may queue
    work call it first, so an empty run does not pass for a working one."""
    with redis_client(settings) as client:
        client.ping()
    if settings.broker != settings.redis_url:
        with job_queue(settings) as queue:
            queue.backlog(LANES[:1])


def pacing_policy(settings: Settings) -> PacingPolicy:
    return PacingPolicy(domain_default=parse_rate(settings.domain_rate_limit),
                        domains=parse_domain_rates(settings.domain_rate_limits),
                        share_lane_reserve=settings.rate_reserve,
                        share_max_wait=settings.share_rate_max_wait_seconds,
                        bulk_max_wait=settings.rate_max_wait_seconds)


def make_relay_pool(settings: Settings, client: redis.Redis) -> RelayPool:
    """Every relay of MAILER_SMTP_URL, paced by the limits kept in Redis."""
    relays = [Relay(config.id, SmtpBackend(config, local_hostname=settings.site_domain),
                    config.rate) for config in settings.smtp_relays]
    return RelayPool(relays, Pacer(RedisBuckets(client), pacing_policy(settings)),
                     idle_seconds=settings.smtp_idle_seconds, health=RelayHealth(client))


def make_failure_window(settings: Settings, client: redis.Redis) -> FailureWindow:
    return FailureWindow(client, PausePolicy(settings.pause_failure_ratio,
                                             settings.pause_window))


def make_tokens(settings: Settings) -> Tokens:
    return Tokens(settings.secret_key.get_secret_value(),
                  confirm_max_age=settings.confirm_max_age_hours * 3600,
                  manage_max_age=settings.manage_link_hours * 3600)


def make_return_path(settings: Settings) -> ReturnPath | None:
    """None without MAILER_BOUNCE_ADDRESS: messages go out from the From address."""
    paths = return_paths(settings)
    return paths.address if paths else None


def return_paths(settings: Settings) -> ReturnPaths | None:
    """The sealed return paths under MAILER_BOUNCE_ADDRESS, for sending and reading."""
    if not settings.bounce_address:
        return None
    return ReturnPaths(settings.secret_key.get_secret_value(), settings.bounce_address)


def feedback_intake(settings: Settings, opened: Stores) -> FeedbackIntake:
    """What reads returned mail, for `mailer inbound` and the webhooks. Its ledger is on
    the stores' durable connections, not the ledger's own: a returned message's row is
    marked in the same transaction as its reader and its `feedback` row."""
    return FeedbackIntake(
        ledger=DeliveryLedger(opened.sessions), suppressions=opened.suppressions,
        subscribers=opened.subscribers, feedback=opened.feedback, tokens=make_tokens(settings),
        return_paths=return_paths(settings),
        unsubscribe_mailbox=settings.unsubscribe_mailbox,
        soft=SoftBounces(settings.soft_bounce_limit, settings.soft_bounce_days),
        keep_dir=settings.var_dir / "inbound" / "unknown",
        run_returned=FeedbackPause(runs=opened.runs, ledger=opened.ledger,
                                   feedback=opened.feedback,
                                   policy=pause_policy(settings)).check)


def webhook_providers(settings: Settings, *, fetch: Callable[[str], bytes] | None = None
                      ) -> dict[str, WebhookProvider]:
    """The ESP webhooks this site has configured, by route name (`POST /webhooks/NAME`);
    one not configured has no route. `fetch` gets SNS's signing certificates (and
    confirms subscriptions): tests give their own; by default, over HTTPS."""
    from mailer.inbound.webhooks.mailgun import MailgunProvider
    from mailer.inbound.webhooks.postmark import PostmarkProvider
    from mailer.inbound.webhooks.sendgrid import SendgridProvider
    from mailer.inbound.webhooks.ses import SesProvider, SigningCertificates, fetch_https
    from mailer.web.jsonbody import parse_json

    fetch = fetch or fetch_https
    providers: dict[str, WebhookProvider] = {}
    if settings.ses_topics:
        confirm = fetch if settings.ses_confirm_subscriptions else None
        providers["ses"] = SesProvider(parse_json, topics=settings.ses_topics,
                                       certificates=SigningCertificates(fetch), confirm=confirm)
    if settings.mailgun_signing_key:
        providers["mailgun"] = MailgunProvider(
            parse_json, signing_key=settings.mailgun_signing_key.get_secret_value())
    if settings.postmark_webhook_user and settings.postmark_webhook_password:
        providers["postmark"] = PostmarkProvider(
            parse_json, user=settings.postmark_webhook_user,
            password=settings.postmark_webhook_password.get_secret_value())
    if settings.sendgrid_verification_key:
        providers["sendgrid"] = SendgridProvider(
            parse_json, public_key=settings.sendgrid_verification_key)
    return providers


def inbound_handoff(settings: Settings, opened: Stores) -> Handoff:
    """The intake, with the directory where messages it fails on are kept."""
    return Handoff(feedback_intake(settings, opened), settings.var_dir / "inbound" / "failed")


def mailbox_poller(settings: Settings, opened: Stores, url: str) -> MailboxPoller:
    """`mailer inbound poll URL`; raises InvalidInput for a URL it will not use."""
    return MailboxPoller(feedback_intake(settings, opened), MailboxUrl.parse(url),
                         max_bytes=settings.inbound_max_bytes)


def make_receiver(settings: Settings, opened: Stores, *, host: str, port: int,
                  lmtp: bool, reuse_port: bool = False) -> Receiver:
    """`mailer inbound serve`: mail only for the bounce address and the unsubscribe
    mailbox (each with any +tag)."""
    return Receiver(inbound_handoff(settings, opened),
                    Mailboxes.of(settings.bounce_address, settings.unsubscribe_mailbox),
                    Limits(settings.inbound_max_bytes, settings.inbound_max_clients),
                    host=host, port=port, lmtp=lmtp, reuse_port=reuse_port,
                    hostname=settings.bounce_address.rpartition("@")[2] or settings.site_domain)


def make_catalog(settings: Settings) -> SectionCatalog:
    return SectionCatalog(settings.section_names)


def default_preferences(settings: Settings) -> Preferences:
    """A sign-up that names no sections wants all the news, in the site's zone, at the
    site's digest hour."""
    return Preferences(tuple(sorted(make_catalog(settings).names)), settings.timezone,
                       settings.digest_hour)


def make_digest_mail(settings: Settings) -> DigestMail:
    return DigestMail(env=make_environment(settings.templates_dir, settings.zone),
                      site=site_of(settings), inliner=settings.inliner,
                      tokens=make_tokens(settings), catalog=make_catalog(settings),
                      public_url=settings.public_url, from_email=settings.from_email,
                      unsubscribe_mailbox=settings.unsubscribe_mailbox,
                      return_path=make_return_path(settings))


def make_planner(settings: Settings, opened: Stores, queue: JobQueue) -> DigestPlanner:
    return DigestPlanner(ledger=opened.ledger, runs=opened.runs,
                         subscribers=opened.subscribers,
                         articles=opened.articles, queue=queue,
                         batch_size=settings.digest_batch_size,
                         window_hours=settings.digest_window_hours,
                         newsletters=opened.newsletters.list)


def make_offer(settings: Settings, opened: Stores) -> NewsletterOffer:
    return NewsletterOffer(opened.newsletters.list, make_catalog(settings),
                           quiet=QuietHours.parse(settings.quiet_hours).label)


def make_alert_planner(settings: Settings, opened: Stores, queue: JobQueue) -> AlertPlanner:
    return AlertPlanner(
        ledger=opened.ledger, runs=opened.runs, subscribers=opened.subscribers,
        articles=opened.articles, queue=queue, newsletters=opened.newsletters.list,
        catalog=make_catalog(settings), batch_size=settings.digest_batch_size,
        rules=AlertRules(QuietHours.parse(settings.quiet_hours), settings.alert_daily_cap,
                         timedelta(hours=settings.alert_window_hours),
                         timedelta(hours=settings.alert_morning_hours)))


def retry_policy(settings: Settings) -> RetryPolicy:
    return RetryPolicy(settings.retry_base_seconds, settings.retry_max_seconds,
                       settings.retry_horizon_hours * 3600)


def signup_guards(settings: Settings, client: redis.Redis) -> Callable[[str], Callable[[], None]]:
    """The sign-up form's flood control per client address, its quota parsed once."""
    gate = FloodGate(client, "signup")
    per_ip = parse_quota(settings.signup_limit_per_ip)
    return lambda ip: lambda: gate.count_attempt([("ip", ip, per_ip)])


def share_intake(settings: Settings, articles: SqlArticleStore, client: redis.Redis
                 ) -> ShareIntake:
    return ShareIntake(articles=articles, check_deliverability=settings.check_deliverability,
                       guards=ShareGuards(client, settings),
                       repeats=RepeatWindow(client, settings.share_repeat_window_minutes * 60))


def signup_mail_cap(settings: Settings, client: redis.Redis) -> Callable[[str], None]:
    """At most MAILER_SIGNUP_MAILS_PER_DAY sign-up e-mails to one address a day, however
    many clients ask: raises RateLimited for one more."""
    gate = FloodGate(client, "signup")
    quota = Quota(settings.signup_mails_per_day, 86400) if settings.signup_mails_per_day \
        else None
    return lambda address: gate.count_attempt([("mail", address_key(address), quota)])


def make_signer(settings: Settings) -> DkimSigner | None:
    """None when no key is configured (many relays sign for you)."""
    if settings.dkim_key_file is None:
        if settings.dkim_ed25519_key_file is not None:
            raise ConfigError("MAILER_DKIM_ED25519_KEY_FILE: needs MAILER_DKIM_KEY_FILE "
                              "too: receivers that do not know Ed25519 check the RSA "
                              "signature")
        return None
    return load_signer(settings.dkim_key_file, settings.signing_domain,
                       settings.dkim_selector, settings.dkim_ed25519_key_file,
                       settings.dkim_ed25519_selector)


def signed(backend: EmailBackend, signer: DkimSigner | None) -> EmailBackend:
    return backend if signer is None else DkimBackend(backend, signer)


def web_pages(settings: Settings) -> jinja2.Environment:
    """The site's page templates: the mail environment plus the list of time zones the
    forms offer (with today's offsets in the site's zone)."""
    pages = make_environment(settings.templates_dir, settings.zone)
    pages.globals["zone_choices"] = lambda: zone_choices(datetime.now(settings.zone).date())
    pages.globals["zone_label"] = lambda zone: zone_label(zone, datetime.now(settings.zone).date())
    pages.globals["zone_in_words"] = zone_in_words
    return pages


def web_context(settings: Settings, *, opened: Stores | None = None,
                queue: JobQueue | None = None,
                fetch: Callable[[str], bytes] | None = None) -> WebContext:
    """What every route needs. Closing it closes what it opened: stores and a queue
    that were given stay open for their owner. `fetch`: see `webhook_providers`."""
    from mailer.web.context import WebContext
    from mailer.web.group_commit import GroupCommit

    owned = opened is None
    db = opened or stores(settings)
    try:
        job_queue = queue or load_job_queue(settings)
    except BaseException:
        if owned:
            db.close()
        raise
    client = make_redis(settings)
    metrics = CollectorRegistry()
    metrics.register(RedisCollector(client, relays=[r.id for r in settings.smtp_relays]))
    metrics.register(ServiceCollector(db, job_queue))
    metrics.register(FeedbackCollector(db))
    closing: list[Callable[[], None]] = [client.close]
    if queue is None:
        closing.append(job_queue.close)
    if owned:
        closing.append(db.close)
    return WebContext(
        settings=settings, stores=db, queue=job_queue, redis=client,
        pages=web_pages(settings), site=site_of(settings),
        tokens=make_tokens(settings), catalog=make_catalog(settings),
        defaults=default_preferences(settings),
        offer=make_offer(settings, db),
        alerts=make_alert_planner(settings, db, job_queue),
        api_key=settings.api_key.get_secret_value() if settings.api_key else None,
        metrics_token=(settings.metrics_token.get_secret_value() if settings.metrics_token
                       else None),
        proxies=parse_networks(settings.trusted_proxies),
        group_commit=GroupCommit(ledger=db.ledger, queue=job_queue),
        share_intake=share_intake(settings, db.articles, client),
        signup_guard=signup_guards(settings, client), mail_cap=signup_mail_cap(settings, client),
        metrics=metrics, digest=make_digest_mail(settings),
        feedback=feedback_intake(settings, db),
        webhooks=webhook_providers(settings, fetch=fetch),
        replays=ReplayGuard(client), closing=tuple(closing))


@dataclass(frozen=True)
class WorkerServices:
    """What a worker process sends with, built once per process (after the fork, so
    each child has its own connections and caches). Closing it shuts the relay pool
    down and closes the stores and Redis."""

    stores: Stores
    redis: redis.Redis
    queue: JobQueue
    relays: RelayPool
    deliverer: Deliverer
    digest_sender: DigestSender
    share_mail: ShareMail
    confirm_mail: ConfirmMail

    def planner(self, settings: Settings) -> DigestPlanner:
        return make_planner(settings, self.stores, self.queue)

    def alert_planner(self, settings: Settings) -> AlertPlanner:
        return make_alert_planner(settings, self.stores, self.queue)

    def close(self) -> None:
        self.relays.shutdown()
        self.stores.close()
        self.redis.close()

    def __enter__(self) -> WorkerServices:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def worker_services(settings: Settings, queue: JobQueue) -> WorkerServices:
    s = settings
    configure_attempt_log(s.delivery_log)
    opened = stores(s)
    client = make_redis(s)
    relays = make_relay_pool(s, client)
    signer = make_signer(s)
    deliverer = Deliverer(ledger=opened.ledger, backend=signed(relays.lane("share"), signer),
                          retry=retry_policy(s), lease_seconds=s.send_lease_seconds,
                          suppressions=opened.suppressions, metrics=MetricsRecorder(client),
                          settle_seconds=s.requeue_seconds / 2)
    offer = make_offer(s, opened)  # one read of the newsletters for the process
    digest_sender = DigestSender(
        ledger=opened.ledger, subscribers=opened.subscribers,
        days=ArticleDays(opened.articles), mail=make_digest_mail(s),
        backend=signed(relays.lane("bulk"), signer), retry=retry_policy(s),
        lease_seconds=s.send_lease_seconds, record_every=s.digest_record_every,
        suppressions=opened.suppressions, runs=opened.runs,
        failures=make_failure_window(s, client), metrics=MetricsRecorder(client),
        newsletters=offer.find,
        urgent_backend=signed(relays.lane("share"), signer))
    share_mail = ShareMail(articles=opened.articles, renderer=make_renderer(s),
                           site_name=s.site_name, from_email=s.from_email,
                           domain=s.site_domain, return_path=make_return_path(s))
    confirm_mail = ConfirmMail(
        store=opened.subscribers, tokens=make_tokens(s), mail=make_template_mail(s),
        catalog=make_catalog(s), public_url=s.public_url, site_name=s.site_name,
        from_email=s.from_email, domain=s.site_domain, confirm_hours=s.confirm_max_age_hours,
        return_path=make_return_path(s), manage_hours=s.manage_link_hours,
        describe=offer.describe)
    return WorkerServices(opened, client, queue, relays, deliverer, digest_sender, share_mail,
                          confirm_mail)
