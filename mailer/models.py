"""Database tables. Migrations in mailer/migrations create them; keep the two in step."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, whether the database keeps zones (PostgreSQL) or
    not (SQLite)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    """A row's id: 32 hex digits, the milliseconds since 1970 then 80 random bits.
    Time first, so a table's key index grows at its end: random ids put each of a
    batch's rows on a page of its own, and a commit of 1,000 rows rewrote hundreds of
    index pages (SQLite's planning of 100,000 digests spent 37% more CPU)."""
    return f"{time.time_ns() // 1_000_000:012x}{os.urandom(10).hex()}"


class Base(DeclarativeBase):
    pass


class ArticleRow(Base):
    __tablename__ = "articles"

    id: Mapped[str] = mapped_column(String(120), primary_key=True)
    section: Mapped[str] = mapped_column(String(60), index=True)
    published: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    data: Mapped[str] = mapped_column(Text)  # the Article as JSON
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SubscriberRow(Base):
    __tablename__ = "subscribers"
    __table_args__ = (
        # Planning reads each (zone, hour, sections) group's active subscribers in
        # address order, a page at a time (migration 0004).
        Index("ix_subscribers_planning", "status", "timezone", "hour", "sections",
              "email_key"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    email_key: Mapped[str] = mapped_column(String(254), unique=True)  # lower-cased, for lookups
    name: Mapped[str] = mapped_column(String(100), default="")
    sections: Mapped[str] = mapped_column(String(500))  # sorted section slugs, comma-joined
    timezone: Mapped[str] = mapped_column(String(64))
    hour: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))  # indexed first in ix_subscribers_planning
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmation_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class DeliveryRow(Base):
    __tablename__ = "deliveries"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)
    recipient: Mapped[str] = mapped_column(String(254), index=True)
    reference: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_reply: Mapped[str] = mapped_column(String(1000), default="")
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Digests only: one row per (edition, subscriber), whoever plans it and how often.
    dedupe_key: Mapped[str | None] = mapped_column(String(120), unique=True, nullable=True)
    subscriber_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    run_id: Mapped[str | None] = mapped_column(String(32), index=True, nullable=True)
    # Digests: the end of the edition's window. Shares and confirmations: when an
    # operator last resent it (its retry horizon counts from then, else from created_at).
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Shares and confirmations: the task payload (JSON), so a failed one can be resent.
    payload: Mapped[str | None] = mapped_column(Text, nullable=True)


class DigestRunRow(Base):
    """One planning pass that queued digests: what `mailer digest run` and ops follow."""

    __tablename__ = "digest_runs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    edition: Mapped[str] = mapped_column(String(10), index=True)  # YYYY-MM-DD
    status: Mapped[str] = mapped_column(String(16))  # running, paused, cancelled
    total: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    reason: Mapped[str] = mapped_column(String(300), default="")  # why it was paused
    kind: Mapped[str] = mapped_column(String(16), default="digest")  # digest, alert
    # An alert's article: one alert per story, however often the CMS says "breaking".
    article_id: Mapped[str | None] = mapped_column(String(120), nullable=True, unique=True,
                                                   index=True)


class SuppressionRow(Base):
    """An address no mail goes to any more: it hard-bounced, or complained."""

    __tablename__ = "suppressions"

    email_key: Mapped[str] = mapped_column(String(254), primary_key=True)  # lower-cased
    email: Mapped[str] = mapped_column(String(254))
    reason: Mapped[str] = mapped_column(String(500))
    source: Mapped[str] = mapped_column(String(16))  # smtp, webhook, manual
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class FeedbackRow(Base):
    """What came back from the world, one row per recipient of a returned message (or
    one per message that names nobody); owned by mailer/inbound/feedback.py."""

    __tablename__ = "feedback"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    type: Mapped[str] = mapped_column(String(16))  # bounce, delay, complaint, auto-reply, ...
    address: Mapped[str] = mapped_column(String(254), default="", index=True)  # lower-cased
    domain: Mapped[str] = mapped_column(String(255), default="")
    status: Mapped[str] = mapped_column(String(16), default="")  # enhanced status code
    hard: Mapped[bool] = mapped_column(Boolean, default=False)
    diagnostic: Mapped[str] = mapped_column(String(500), default="")
    token: Mapped[str] = mapped_column(String(16))  # ours, missing, forged, stale, unknown
    message_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    kind: Mapped[str] = mapped_column(String(16), default="")  # the message's: share, digest...
    run_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    action: Mapped[str] = mapped_column(String(24))  # what the feedback policy did
    kept_as: Mapped[str] = mapped_column(String(80), default="")  # unknown mail: its file
    # The returned message it came from (a digest of its Message-ID and the address it
    # came to, or of its bytes): the same message read twice is taken once.
    source: Mapped[str] = mapped_column(String(32), default="", index=True)


class ShareRefusalRow(Base):
    """An address whose owner asked for no more articles shared by readers: shares to
    it are accepted as usual (nobody learns who refused) and never sent. Digests and
    confirmations, which the owner asks for, are not affected."""

    __tablename__ = "share_refusals"

    email_key: Mapped[str] = mapped_column(String(254), primary_key=True)  # lower-cased
    email: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class NewsletterRow(Base):
    """What the site offers readers (mailer/newsletters); owned by
    mailer/newsletters/store.py. Migration 0007 adds the defaults."""

    __tablename__ = "newsletters"

    slug: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    cadence: Mapped[str] = mapped_column(String(16))  # immediate, daily, weekly
    sections: Mapped[str] = mapped_column(String(500), default="")  # "" = every section
    weekday: Mapped[int | None] = mapped_column(Integer, nullable=True)  # weekly: 0 = Monday
    sender_name: Mapped[str] = mapped_column(String(80), default="")
    template: Mapped[str] = mapped_column(String(40), default="digest")
    position: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SubscriptionRow(Base):
    """A reader's choice of sections in one newsletter other than the daily digest
    (whose sections are in the subscriber's row); owned, with `subscribers`, by
    mailer/subscriptions/store.py. Mail goes only to active subscribers."""

    __tablename__ = "subscriptions"

    subscriber_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True)
    newsletter: Mapped[str] = mapped_column(
        String(40), ForeignKey("newsletters.slug", ondelete="CASCADE"), primary_key=True,
        index=True)
    sections: Mapped[str] = mapped_column(String(500))  # sorted section slugs, comma-joined
    # An immediate newsletter's alert in the reader's quiet hours: "morning" waits for
    # the end of them, "digest" leaves the story to their digest.
    at_night: Mapped[str] = mapped_column(String(16), default="morning")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

