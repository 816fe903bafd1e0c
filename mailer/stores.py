"""The database's stores, one per table owner, opened together and closed together.

`mailer.services.stores` opens them (after checking the schema); a `with` block closes
them, so no entry point leaves a connection pool behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType

from sqlalchemy import Engine

from mailer.articles.stores import SqlArticleStore
from mailer.db import SessionFactory
from mailer.delivery.ledger import DeliveryLedger
from mailer.delivery.suppression import SuppressionStore
from mailer.digest.runs import DigestRuns
from mailer.inbound.feedback import FeedbackStore
from mailer.newsletters.store import NewsletterStore
from mailer.subscriptions.store import SubscriberStore


@dataclass(frozen=True)
class Stores:
    engine: Engine
    sessions: SessionFactory
    articles: SqlArticleStore
    subscribers: SubscriberStore
    ledger: DeliveryLedger
    suppressions: SuppressionStore
    runs: DigestRuns
    feedback: FeedbackStore
    ledger_engine: Engine  # the ledger's own pool: its commits do not wait for the disk
    newsletters: NewsletterStore

    def close(self) -> None:
        self.ledger.close()
        self.ledger_engine.dispose()
        self.engine.dispose()

    def __enter__(self) -> Stores:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
