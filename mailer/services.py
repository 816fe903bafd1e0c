"""Builds the library's objects from settings. Called by the entry points only."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import redis
from sqlalchemy import Engine

from mailer.articles.files import read_seed_articles
from mailer.articles.stores import SqlArticleStore
from mailer.config import Settings
from mailer.db import SessionFactory, check_schema, make_engine, session_factory
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
from mailer.limits import Quota, parse_domain_rates, parse_quota, parse_rate
from mailer.queue import JobQueue
from mailer.render import ShareRenderer, Site, TemplateMail, make_environment
from mailer.sending.dkim import DkimBackend, DkimSigner, load_signer
from mailer.sending.pacing import Pacer, PacingPolicy
from mailer.sending.ratelimit import RedisBuckets
from mailer.sending.relay_health import RelayHealth
from mailer.sending.relays import Relay, RelayPool
from mailer.sending.smtp import SmtpBackend
from mailer.sending.transport import EmailBackend
from mailer.share.flow import ShareMail
from mailer.share.once import ShareOnce
from mailer.subscriptions.signup import ConfirmMail
from mailer.subscriptions.store import Preferences, SectionCatalog, SubscriberStore
from mailer.tokens import Purpose, Tokens
from mailer.validation import ShareRequest
from mailer.web.flood import FloodGate, address_key, mailbox_key


@dataclass(frozen=True)
class Stores:
    engine: Engine
    sessions: SessionFactory
    articles: SqlArticleStore
    subscribers: SubscriberStore
    ledger: DeliveryLedger
    suppressions: SuppressionStore
    runs: DigestRuns
    ledger_engine: Engine

    def close(self) -> None:
        self.ledger.close()
        self.ledger_engine.dispose()
        self.engine.dispose()


def open_stores(settings: Settings, *, seed: bool = True) -> Stores:
    """The database's stores, after checking its schema is current; with `seed`, the
    shipped seed articles are upserted (idempotent)."""
    engine = make_engine(settings.database)
    check_schema(engine)
    sessions = session_factory(engine)
    # The ledger's own connections commit without waiting for the disk: see make_engine.
    ledger_engine = make_engine(settings.database, durable_commits=False)
    ledger = DeliveryLedger(session_factory(ledger_engine))
    stores = Stores(engine, sessions, SqlArticleStore(sessions), SubscriberStore(sessions),
                    ledger, SuppressionStore(sessions), DigestRuns(sessions, ledger),
                    ledger_engine)
    if seed:
        stores.articles.put_many(read_seed_articles(settings.seeds_dir))
    return stores


def site_of(settings: Settings) -> Site:
    return Site(settings.site_name, settings.site_url, settings.site_domain, settings.zone,
                settings.postal_address, settings.privacy_url)


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
    """Raises redis' ConnectionError when Redis is away: commands that may queue work
    call it first, so an empty run does not pass for a working one."""
    client = make_redis(settings)
    try:
        client.ping()
    finally:
        client.close()


def pacing_policy(settings: Settings) -> PacingPolicy:
    return PacingPolicy(domain_default=parse_rate(settings.domain_rate_limit),
                        domains=parse_domain_rates(settings.domain_rate_limits),
                        reserve=settings.rate_reserve,
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
                  confirm_max_age=settings.confirm_max_age_hours * 3600)


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
                      unsubscribe_mailbox=settings.unsubscribe_mailbox)


def make_planner(settings: Settings, stores: Stores, queue: JobQueue) -> DigestPlanner:
    return DigestPlanner(ledger=stores.ledger, runs=stores.runs,
                         subscribers=stores.subscribers,
                         articles=stores.articles, queue=queue,
                         batch_size=settings.digest_batch_size,
                         window_hours=settings.digest_window_hours)


def retry_policy(settings: Settings) -> RetryPolicy:
    return RetryPolicy(settings.retry_base_seconds, settings.retry_max_seconds,
                       settings.retry_horizon_hours * 3600)


def resend_after(settings: Settings) -> timedelta:
    return timedelta(seconds=settings.confirm_resend_seconds)


ShareGuard = Callable[[ShareRequest], None]


def share_guards(settings: Settings, client: redis.Redis) -> Callable[[str], ShareGuard]:
    """The share form's flood control, its quotas parsed once: per request, the guard
    for the client's address."""
    gate = FloodGate(client, "share")
    per_ip, per_sender, per_recipient, per_article, total = (parse_quota(text) for text in (
        settings.share_limit_per_ip, settings.share_limit_per_sender,
        settings.share_limit_per_recipient, settings.share_limit_per_article,
        settings.share_limit_total))

    def for_client(ip: str) -> ShareGuard:
        def guard(share: ShareRequest) -> None:
            gate.take([("ip", ip, per_ip),
                       ("from", mailbox_key(share.sender.email), per_sender),
                       ("to", mailbox_key(share.friend.email), per_recipient),
                       ("article", share.article_id, per_article),
                       ("all", "", total)])
        return guard
    return for_client


def signup_guards(settings: Settings, client: redis.Redis) -> Callable[[str], Callable[[], None]]:
    """The sign-up form's flood control per client address, its quota parsed once."""
    gate = FloodGate(client, "signup")
    per_ip = parse_quota(settings.signup_limit_per_ip)
    return lambda ip: lambda: gate.take([("ip", ip, per_ip)])


def make_share_once(settings: Settings, client: redis.Redis) -> ShareOnce:
    return ShareOnce(client, settings.share_repeat_window_minutes * 60)


def signup_mail_cap(settings: Settings, client: redis.Redis) -> Callable[[str], None]:
    """At most MAILER_SIGNUP_MAILS_PER_DAY sign-up e-mails to one address a day, however
    many clients ask: raises RateLimited for one more."""
    gate = FloodGate(client, "signup")
    quota = Quota(settings.signup_mails_per_day, 86400) if settings.signup_mails_per_day \
        else None
    return lambda address: gate.take([("mail", address_key(address), quota)])


def make_signer(settings: Settings) -> DkimSigner | None:
    """None when no key is configured (many relays sign for you)."""
    if settings.dkim_key_file is None:
        return None
    return load_signer(settings.dkim_key_file, settings.signing_domain,
                       settings.dkim_selector)


def signed(backend: EmailBackend, signer: DkimSigner | None) -> EmailBackend:
    return backend if signer is None else DkimBackend(backend, signer)


@dataclass(frozen=True)
class WorkerServices:
    """What a worker process sends with, built once per process (after the fork, so
    each child has its own connections and caches)."""

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


def make_worker_services(settings: Settings, queue: JobQueue) -> WorkerServices:
    s = settings
    configure_attempt_log(s.delivery_log)
    stores = open_stores(s)
    client = make_redis(s)
    relays = make_relay_pool(s, client)
    signer = make_signer(s)
    deliverer = Deliverer(ledger=stores.ledger, backend=signed(relays.lane("share"), signer),
                          retry=retry_policy(s), lease_seconds=s.send_lease_seconds,
                          suppressions=stores.suppressions, metrics=MetricsRecorder(client),
                          settle_seconds=s.requeue_seconds / 2)
    digest_sender = DigestSender(
        ledger=stores.ledger, subscribers=stores.subscribers, days=ArticleDays(stores.articles),
        mail=make_digest_mail(s), backend=signed(relays.lane("bulk"), signer),
        retry=retry_policy(s), lease_seconds=s.send_lease_seconds,
        record_every=s.digest_record_every, suppressions=stores.suppressions, runs=stores.runs,
        failures=make_failure_window(s, client), metrics=MetricsRecorder(client))
    share_mail = ShareMail(articles=stores.articles, renderer=make_renderer(s),
                           site_name=s.site_name, from_email=s.from_email,
                           domain=s.site_domain)
    confirm_mail = ConfirmMail(
        store=stores.subscribers, tokens=make_tokens(s), mail=make_template_mail(s),
        catalog=make_catalog(s), public_url=s.public_url, site_name=s.site_name,
        from_email=s.from_email, domain=s.site_domain, confirm_hours=s.confirm_max_age_hours)
    return WorkerServices(stores, client, queue, relays, deliverer, digest_sender, share_mail,
                          confirm_mail)
