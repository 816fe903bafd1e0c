"""Builds the library's objects from settings. Called by the entry points only."""

from __future__ import annotations

import redis

from mailer.articles import RedisArticleStore, read_seed_articles
from mailer.config import Settings
from mailer.jobs import JobLedger
from mailer.render import ShareRenderer, Site, make_environment
from mailer.smtp import SmtpBackend


def connect_redis(settings: Settings) -> redis.Redis:
    return redis.Redis.from_url(settings.redis_url, socket_timeout=10, socket_connect_timeout=5,
                                health_check_interval=30)


def site_of(settings: Settings) -> Site:
    return Site(settings.site_name, settings.site_url, settings.site_domain, settings.zone)


def make_renderer(settings: Settings) -> ShareRenderer:
    env = make_environment(settings.templates_dir, settings.zone)
    return ShareRenderer(env, site_of(settings), settings.inliner)


def make_ledger(settings: Settings, client: redis.Redis) -> JobLedger:
    return JobLedger(client, ttl_seconds=settings.job_ttl_days * 86_400)


def make_smtp_backend(settings: Settings) -> SmtpBackend:
    return SmtpBackend(settings.smtp, local_hostname=settings.site_domain)


def seeded_article_store(settings: Settings, client: redis.Redis) -> RedisArticleStore:
    """The shared store with the shipped seed articles in it (an idempotent upsert)."""
    store = RedisArticleStore(client)
    store.put_many(read_seed_articles(settings.seeds_dir))
    return store
