"""Sending one batch of planned digests over one SMTP session: claim the rows, skip
whom the list no longer wants, send at the shared rate, record each reply as it
arrives, and pause the run if its mail starts bouncing."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from mailer.articles.model import slugify
from mailer.delivery.attempts import Stopwatch
from mailer.delivery.ledger import Claimed, DeliveryLedger, JobStatus, Kind
from mailer.delivery.outcomes import Dispatch, LedgerRecord, OutcomeWriter
from mailer.delivery.recorder import MetricsRecorder
from mailer.delivery.retry import RetryPolicy
from mailer.delivery.suppression import SUPPRESSED_REPLY, SuppressionStore
from mailer.delivery.verdict import Verdict
from mailer.digest.compose import DigestMail, EncodedTemplate
from mailer.digest.plan import ArticleDays, Variant, variant_of
from mailer.digest.runs import DigestRuns, FailureWindow, RunStatus
from mailer.newsletters.model import DAILY, Newsletter
from mailer.sending.backends.base import EmailBackend, SendResult
from mailer.sending.message import Envelope
from mailer.subscriptions.model import Preferences, SubscriberStatus
from mailer.subscriptions.store import SubscriberStore

NO_LONGER_CHOSEN = "not sent: no longer chosen"
# How far back a digest looks for stories its reader had as alerts: a weekly's span.
ALERTS_LEFT_OUT_FOR = timedelta(days=8)


@dataclass(frozen=True)
class BatchOutcome:
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    deferred: list[str] = field(default_factory=list)
    retry_in: float = 0.0
    throttled: list[str] = field(default_factory=list)  # not sent yet: no send slot
    throttle_wait: float = 0.0
    halted: str = ""  # the run is paused or cancelled: why nothing (more) was sent


@dataclass
class _Tally:
    """What a batch's results add up to, for its BatchOutcome and the run's pause."""

    sent: int = 0
    failed: int = 0
    deferred: list[str] = field(default_factory=list)
    throttled: list[str] = field(default_factory=list)
    throttle_wait: float = 0.0
    most_attempts: int = 0  # of the deferred: the next try waits the backoff of this many
    relay_fault: str = ""

    def count(self, message: Dispatch, judged: Verdict) -> None:
        if judged.status is JobStatus.SENT:
            self.sent += 1
        elif not judged.went_out:
            self.throttled.append(message.message_id)
            self.throttle_wait = max(self.throttle_wait, judged.wait)
        elif judged.retry:
            self.deferred.append(message.message_id)
            self.most_attempts = max(self.most_attempts, message.attempts)
        else:
            self.failed += 1
        if judged.relay_fault and not self.relay_fault:
            self.relay_fault = judged.relay_fault


class DigestSender:
    def __init__(self, *, ledger: DeliveryLedger, subscribers: SubscriberStore,
                 days: ArticleDays, mail: DigestMail, backend: EmailBackend,
                 retry: RetryPolicy, lease_seconds: float, record_every: int = 20,
                 suppressions: SuppressionStore | None = None, runs: DigestRuns | None = None,
                 failures: FailureWindow | None = None,
                 metrics: MetricsRecorder | None = None,
                 newsletters: Callable[[str], Newsletter | None] = lambda slug: None,
                 urgent_backend: EmailBackend | None = None) -> None:
        """`record_every`: SMTP replies per ledger commit, the most a worker killed
        mid-batch can leave sent but unrecorded (and so send twice). 1 makes that one
        message; on SQLite with four workers it costs about a fifth of the throughput."""
        self.record_every = record_every
        self.ledger = ledger
        self.subscribers = subscribers
        self.days = days
        self.mail = mail
        self.backend = backend
        # Alerts go out on the relays' urgent lane, whose share of each relay's rate a
        # digest in progress cannot take (mailer.limits.pacing).
        self.urgent_backend = urgent_backend or backend
        self.retry = retry
        self.lease_seconds = lease_seconds
        self.suppressions = suppressions
        self.runs = runs
        self.failures = failures
        self.metrics = metrics
        self.newsletters = newsletters  # by slug, as offered now (NewsletterOffer.find)

    def send_batch(self, ids: Sequence[str], run_id: str | None = None) -> BatchOutcome:
        """A digest is retried until its window closes (then `claim_many` records it
        expired): the window is a digest's retry horizon."""
        stopped = self._run_stopped(run_id)
        if stopped:
            # The rows stay as they are: `resume` queues them again.
            return BatchOutcome(halted=stopped)
        self.days.forget()  # articles may have been corrected since the last batch
        skipped, to_send = self._build(self.ledger.claim_many(ids, self.lease_seconds))
        self.ledger.record(skipped)
        tally = self._send(to_send)
        halted = self._pause_if_failing(run_id, tally)
        retry_in = self.retry.delay(tally.most_attempts) if tally.deferred else 0.0
        return BatchOutcome(tally.sent, tally.failed, len(skipped), tally.deferred, retry_in,
                            tally.throttled, tally.throttle_wait, halted)

    def _run_stopped(self, run_id: str | None) -> str:
        """Why the batch's run takes no more sending (paused or cancelled), or ""."""
        if run_id and self.runs is not None:
            status = self.runs.status(run_id)
            if status in (RunStatus.PAUSED, RunStatus.CANCELLED):
                return f"run {run_id} is {status.value}"
        return ""

    def _build(self, claimed: list[Claimed]
               ) -> tuple[list[LedgerRecord], list[tuple[Dispatch, Envelope]]]:
        """The claimed rows not to send (with why) and the envelopes of the others,
        rendered once per variant."""
        people = self.subscribers.get_many(c.subscriber_id for c in claimed)
        suppressed = self.suppressions.suppressed(p.email for p in people.values()) \
            if self.suppressions is not None else set()
        alerted = self.ledger.alerted(
            [c.subscriber_id for c in claimed if c.kind == Kind.DIGEST.value],
            datetime.now(UTC) - ALERTS_LEFT_OUT_FOR)
        date_header = format_datetime(datetime.now(UTC)).encode()
        skipped: list[LedgerRecord] = []
        to_send: list[tuple[Dispatch, Envelope]] = []
        templates: dict[Variant, EncodedTemplate | str] = {}
        newsletters = functools.cache(self.newsletters)  # as offered now, once a batch
        for row in claimed:
            person = people.get(row.subscriber_id)
            if person is None or person.status is not SubscriberStatus.ACTIVE:
                skipped.append((row.id, JobStatus.SKIPPED, "not sent: unsubscribed since"))
                continue
            if person.email.lower() in suppressed:
                skipped.append((row.id, JobStatus.SUPPRESSED, SUPPRESSED_REPLY))
                continue
            variant = self._alert_variant(row.reference, person.preferences, newsletters) \
                if row.kind == Kind.ALERT.value else self._variant(
                    row.reference, person.preferences, newsletters,
                    alerted.get(row.subscriber_id))
            if isinstance(variant, str):
                skipped.append((row.id, JobStatus.SKIPPED, variant))
                continue
            if variant not in templates:
                templates[variant] = self._template(variant, row.reference)
            template = templates[variant]
            if isinstance(template, str):
                skipped.append((row.id, JobStatus.SKIPPED, template))
                continue
            envelope = self.mail.envelope(template, person, date_header, row.id)
            to_send.append((Dispatch(row.id, Kind(row.kind), envelope.recipient,
                                     row.created_at, row.attempts), envelope))
        return skipped, to_send

    def _template(self, variant: Variant, reference: str) -> EncodedTemplate | str:
        """The variant rendered, or why there is nothing to send."""
        if variant.template == "alert":
            story = self.days.story(reference)
            assert story is not None  # _alert_variant read it from the same batch's cache
            return self.mail.template(variant, [story])
        articles = self.days.for_variant(variant)
        if articles:
            return self.mail.template(variant, articles)
        return "not sent: every story was sent as an alert" if variant.without \
            else "not sent: no articles any more"

    def _variant(self, reference: str, prefs: Preferences,
                 newsletters: Callable[[str], Newsletter | None],
                 alerted: set[str] | None = None) -> Variant | str:
        """The reader's variant of the edition a row names: their zone, and their
        sections in its newsletter as they are now, without the stories they had as
        alerts."""
        slug = reference.partition("/")[0] if "/" in reference else DAILY
        found = variant_of(reference, prefs.timezone, prefs.chosen(slug),
                           newsletters(slug))
        if not found.sections:
            return NO_LONGER_CHOSEN
        return replace(found, without=frozenset(alerted)) if alerted else found

    def _alert_variant(self, article_id: str, prefs: Preferences,
                       newsletters: Callable[[str], Newsletter | None]) -> Variant | str:
        """An alert for the reader: through the first immediate newsletter they took
        that covers the story's section; or why none goes."""
        story = self.days.story(article_id)
        if story is None:
            return "not sent: the story was taken down"
        section = slugify(story.section)
        for slug, sections in prefs.newsletters:
            newsletter = newsletters(slug)
            if newsletter is not None and newsletter.template == "alert" \
                    and section in sections:
                return Variant(story.published.date(), prefs.timezone, (section,), slug, 1,
                               newsletter.name, newsletter.sender_name, "alert")
        return NO_LONGER_CHOSEN

    def _send(self, to_send: list[tuple[Dispatch, Envelope]]) -> _Tally:
        """One session for the batch; each reply goes to the OutcomeWriter as it
        arrives, so at most `record_every` are ever sent but unrecorded."""
        tally = _Tally()
        outcomes = OutcomeWriter(record=self.ledger.record_now, suppressions=self.suppressions,
                                 metrics=self.metrics, record_every=self.record_every)
        watch = Stopwatch()

        def take(index: int, result: SendResult) -> None:
            message = to_send[index][0]
            tally.count(message, outcomes.take(message, result, watch.lap()))

        urgent = any(message.kind == Kind.ALERT for message, _ in to_send)
        backend = self.urgent_backend if urgent else self.backend
        backend.send_messages([envelope for _, envelope in to_send], on_result=take)
        outcomes.finish()
        return tally

    def _pause_if_failing(self, run_id: str | None, tally: _Tally) -> str:
        """Pause the run when the relay refused us or too much of its mail fails;
        returns why ("" when it goes on)."""
        if not run_id or self.runs is None:
            return ""
        if tally.relay_fault:
            # Every later batch would be refused the same way: stop until an operator
            # has fixed the relay's settings and resumes the run.
            reason = f"the relay refused us: {tally.relay_fault}"[:300]
            return reason if self.runs.pause(run_id, reason) else ""
        if self.failures is not None:
            ratio = self.failures.add(run_id, tally.sent, tally.failed)
            if ratio and self.runs.pause(run_id, ratio):
                return ratio
        return ""
