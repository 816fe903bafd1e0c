"""A digest run pauses itself when its mail comes back as hard bounces or complaints,
as it does when its mail fails at the relay (mailer/digest/runs.py): the intake asks
after each hard bounce or complaint it records against a run."""

from __future__ import annotations

from mailer.delivery.ledger import DeliveryLedger
from mailer.digest.runs import DigestRuns, FeedbackPausePolicy, went_out
from mailer.inbound.feedback import FeedbackStore


class FeedbackPause:
    def __init__(self, *, runs: DigestRuns, ledger: DeliveryLedger, feedback: FeedbackStore,
                 policy: FeedbackPausePolicy) -> None:
        self._runs = runs
        self._ledger = ledger
        self._feedback = feedback
        self.policy = policy

    def check(self, run_id: str) -> str:
        """Pause the run if what came back of it since it last started running is
        over a threshold, over the messages that went out since; returns why ("" when
        it goes on). Cheap for a run that is not running, or whose returns cannot be
        over a threshold yet, so a bounce storm does not count the ledger once a
        bounce."""
        since = self._runs.running_since(run_id)
        if since is None:
            return ""
        returns = self._feedback.run_returns([run_id], since)[run_id]
        policy = self.policy
        if returns.hard_bounces <= policy.bounce_ratio * policy.minimum and \
                returns.complaints <= policy.complaint_ratio * policy.minimum:
            return ""
        sent = went_out(self._ledger.run_counts(run_id, since))
        reason = policy.verdict(sent, returns.hard_bounces, returns.complaints)
        return reason if reason and self._runs.pause(run_id, reason) else ""
