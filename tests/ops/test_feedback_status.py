"""What comes back in `mailer status` (and so /ops): rates per kind over what went out
in the last 24 hours, the recent runs, refusals that blame us by domain, untrusted
mail; a kind over a pause threshold is a problem that names the next step."""

from __future__ import annotations

import json

import pytest

from mailer import services
from mailer.config import load_settings
from mailer.delivery.ledger import JobStatus
from mailer.inbound.feedback import FeedbackEvent
from tests.cli.test_commands import env  # noqa: F401 - the shared fixture
from tests.support.cli import run

pytestmark = pytest.mark.usefixtures("env")


def test_rates_and_a_problem_line(capsys: pytest.CaptureFixture[str],
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILER_PAUSE_FEEDBACK_MINIMUM", "10")
    with services.stores(load_settings(), seed=False) as stores:
        for i in range(10):
            stores.ledger.create(f"s{i}", kind="share", recipient=f"f{i}@example.org",
                                 reference="article")
            stores.ledger.mark(f"s{i}", JobStatus.SENT, "250 ok")
        stores.ledger.mark_bounced("s0", "bounced: 5.1.1")
        stores.feedback.record(
            [FeedbackEvent("bounce", "ours", "suppressed", address=f"f{i}@example.org",
                           kind="share", message_id=f"s{i}") for i in range(2)]
            + [FeedbackEvent("bounce", "ours", "blames-us", address="f3@gmail.com",
                             kind="share", message_id="s3"),
               FeedbackEvent("bounce", "forged", "untrusted", address="x@example.org")])
    code, out, _ = run(["status", "--json", "--timeout", "0.3"], capsys)
    status = json.loads(out)
    assert code == 1
    share = next(k for k in status["feedback"]["kinds"] if k["kind"] == "share")
    assert (share["sent"], share["hard_bounces"], share["hard_bounce_ratio"],
            share["blames_us"]) == (10, 2, 0.2, 1)
    assert status["feedback"]["refusals"] == [{"domain": "gmail.com", "refusals": 1}]
    assert status["feedback"]["untrusted"] == {"forged": 1}
    [problem] = [p for p in status["problems"] if p.startswith("share mail")]
    assert problem.startswith("share mail in the last 24 h: 2 of the 10 messages sent "
                              "hard-bounced (20.0%, over the 5.0% threshold): the addresses "
                              "are suppressed already")
    _, out, _ = run(["status", "--timeout", "0.3"], capsys)
    assert "Coming back, last 24 h" in out and "gmail.com" in out and "2 (20.00%)" in out


def test_quiet_below_the_minimum(capsys: pytest.CaptureFixture[str]) -> None:
    with services.stores(load_settings(), seed=False) as stores:
        stores.ledger.create("s0", kind="share", recipient="f0@example.org", reference="a")
        stores.ledger.mark("s0", JobStatus.SENT, "250 ok")
        stores.feedback.record([FeedbackEvent("complaint", "ours", "complained",
                                              address="f0@example.org", kind="share",
                                              message_id="s0")])
    _, out, _ = run(["status", "--json", "--timeout", "0.3"], capsys)
    status = json.loads(out)
    assert not [p for p in status["problems"] if p.startswith("share mail")]
    share = next(k for k in status["feedback"]["kinds"] if k["kind"] == "share")
    assert (share["complaints"], share["complaint_ratio"]) == (1, 1.0)
