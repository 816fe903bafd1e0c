"""`/metrics` for what comes back from the world, read from the `feedback` table (and
the ledger's counts of each run) at each scrape, like the other database figures: any
number of API processes give the same figures.

- `mailer_feedback_total{kind,type,action}`: every returned message (per recipient)
  since the table began. The table is only added to, so this is a counter, exported
  from 0 for every kind and every (type, action) the policy gives, for rate().
- `mailer_feedback_refusals_last_day{domain}`: refusals that blame our server, content
  or reputation in the last 24 hours, per recipient domain: the ten commonest and
  `other`, so the series stay few.
- `mailer_digest_run_sent`, `…_hard_bounces`, `…_complaints{run}`: the latest runs of
  the last two days (their mail keeps coming back for hours after it went out); with
  none, one series without a run, at 0, so the alert's query always has data.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from mailer.delivery.ledger import Kind
from mailer.digest.runs import went_out
from mailer.inbound.policy import OUTCOMES
from mailer.models import utcnow

if TYPE_CHECKING:
    from mailer.stores import Stores

RUN_DAYS = 2
RUNS = 10
DOMAINS = 10
NO_KIND = "none"  # returned mail that named no message of ours


class FeedbackCollector(Collector):
    def __init__(self, stores: Stores) -> None:
        self._stores = stores

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        yield self._totals()
        yield self._refusals()
        yield from self._runs()

    def _totals(self) -> CounterMetricFamily:
        family = CounterMetricFamily(
            "mailer_feedback", "Returned mail (bounces, delays, complaints, unsubscribes "
            "by mail, ...) per recipient, by the kind of message it was about and what "
            "the feedback policy did", labels=["kind", "type", "action"])
        kinds = [*(k.value for k in Kind), NO_KIND]
        counts: dict[tuple[str, str, str], int] = {
            (kind, type_, action): 0 for kind in kinds for type_, action in OUTCOMES}
        for found in self._stores.feedback.counts():
            key = (found.kind or NO_KIND, found.type, found.action)
            counts[key] = counts.get(key, 0) + found.count
        for labels, n in sorted(counts.items()):
            family.add_metric(list(labels), n)
        return family

    def _refusals(self) -> GaugeMetricFamily:
        family = GaugeMetricFamily(
            "mailer_feedback_refusals_last_day", "Refusals that blame our server, content "
            "or reputation in the last 24 hours, by recipient domain (the ten commonest, "
            "then other)", labels=["domain"])
        found = self._stores.feedback.domain_refusals(utcnow() - timedelta(days=1), DOMAINS)
        for domain, n in found.top:
            family.add_metric([domain], n)
        family.add_metric(["other"], found.other)
        return family

    def _runs(self) -> Iterator[GaugeMetricFamily]:
        since = utcnow() - timedelta(days=RUN_DAYS)
        runs = [r.id for r in self._stores.runs.recent(RUNS) if r.created_at >= since]
        returns = self._stores.feedback.run_returns(runs)
        sent = GaugeMetricFamily("mailer_digest_run_sent", "Messages of a recent digest run "
                                 "that went out (sent, or bounced since)", labels=["run"])
        hard = GaugeMetricFamily("mailer_digest_run_hard_bounces", "Messages of a recent "
                                 "digest run that came back as hard bounces", labels=["run"])
        complaints = GaugeMetricFamily("mailer_digest_run_complaints", "Messages of a recent "
                                       "digest run reported as spam", labels=["run"])
        for run_id in runs or [""]:
            found = returns.get(run_id)
            sent.add_metric([run_id], went_out(self._stores.ledger.run_counts(run_id))
                            if found else 0)
            hard.add_metric([run_id], found.hard_bounces if found else 0)
            complaints.add_metric([run_id], found.complaints if found else 0)
        yield from (sent, hard, complaints)
