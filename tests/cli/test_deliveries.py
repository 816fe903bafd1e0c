"""`mailer deliveries`, `mailer suppressions` and `mailer digest runs|pause|resume|cancel`
through the real entry point, on a real database and a real Redis broker."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import redis

from mailer import services
from mailer.delivery.ledger import JobStatus
from tests.cli.test_commands import env  # noqa: F401 - the shared fixture
from tests.support.cli import run

pytestmark = pytest.mark.usefixtures("env")


def stores():  # type: ignore[no-untyped-def]
    from mailer.config import load_settings

    return services.stores(load_settings(), seed=False)


def failed_share(job_id: str, to: str) -> None:
    ledger = stores().ledger
    ledger.create(job_id, kind="share", recipient=to, reference="a-story",
                  payload={"job_id": job_id, "share": {"friend_email": to}})
    ledger.mark(job_id, JobStatus.FAILED, "550 5.1.1 unknown")


def test_failed_lists_then_resend_requeues_each_once(
        capsys: pytest.CaptureFixture[str], redis_client: redis.Redis) -> None:
    failed_share("f1", "one@example.org")
    failed_share("f2", "two@example.org")
    stores().ledger.create("ok", kind="share", recipient="ok@example.org", reference="x")
    code, out, err = run(["deliveries", "failed"], capsys)
    assert code == 0
    assert [line.split()[2] for line in out.splitlines()] == ["f2", "f1"]
    assert "550 5.1.1 unknown" in out and err.startswith("2 failed since")
    code, out, _ = run(["deliveries", "failed", "--json"], capsys)
    assert {json.loads(line)["recipient"] for line in out.splitlines()} == {
        "one@example.org", "two@example.org"}

    assert run(["deliveries", "resend", "--failed"], capsys)[1] == (
        "re-queued 2 message(s) and 0 digest(s) in 0 batch(es)\n")
    assert redis_client.llen("share") == 2
    assert run(["deliveries", "resend", "--failed"], capsys)[1].startswith("re-queued 0 ")
    assert redis_client.llen("share") == 2, "each once"
    assert stores().ledger.failed() == []


@pytest.mark.parametrize(("argv", "message"), [
    (["deliveries", "failed", "--since", "last tuesday"],
     "error: --since: 'last tuesday' is not like 24h, 7d or 2026-11-27T06:00"),
    (["deliveries", "resend", "--failed", "--digest", "nope"],
     "error: no digest or alert run 'nope'"),
    (["deliveries", "failed", "--digest", "nope"], "error: no digest or alert run 'nope'"),
    (["digest", "pause", "nope"], "error: no digest or alert run 'nope'"),
    (["suppressions", "add", "not an address"], "error: EMAIL: "),
    (["suppressions", "remove", "nobody@example.org"],
     "error: nobody@example.org is not on the suppression list"),
])
def test_bad_input_exits_2_with_one_line(capsys: pytest.CaptureFixture[str], argv: list[str],
                                         message: str) -> None:
    code, _, err = run(argv, capsys)
    assert code == 2
    [line] = err.splitlines()
    assert line.startswith(message)


def test_resend_needs_failed(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["deliveries", "resend"], capsys)
    assert code == 2 and "--failed" in err


def test_pause_resume_cancel_a_run(capsys: pytest.CaptureFixture[str],
                                   redis_client: redis.Redis) -> None:
    for address in ("a@example.com", "b@example.com"):
        assert run(["subscribers", "add", address, "--confirmed"], capsys)[0] == 0
    run(["digest", "run", "--date", "2020-10-28", "--no-wait"], capsys)
    [run_info] = stores().runs.recent()
    run_id = run_info.id
    redis_client.delete("digest")  # the batch is lost: resume must queue it again

    assert run(["digest", "pause", run_id], capsys)[1] == f"run {run_id}: paused\n"
    code, _, err = run(["digest", "pause", run_id], capsys)
    assert (code, err) == (2, f"error: run: run {run_id} is paused, not running\n")
    out = run(["digest", "runs"], capsys)[1]
    [row] = [line for line in out.splitlines() if run_id[:8] in line]
    assert re.search(rf"{run_id[:8]} +│ 2020-10-28 │ paused +│ +2 │ +0 │ +0 │ +2 │ +0 │ paused by "
                     "an operator", row), out

    assert run(["digest", "resume", run_id], capsys)[1] == (
        f"run {run_id}: running; 2 message(s) queued in 1 batch(es)\n")
    assert redis_client.llen("digest") == 1

    assert run(["digest", "cancel", run_id], capsys)[1] == (
        f"run {run_id}: cancelled; 2 message(s) will not be sent\n")
    assert stores().ledger.run_counts(run_id) == {JobStatus.CANCELLED: 2}
    code, _, err = run(["digest", "resume", run_id], capsys)
    assert (code, err) == (2, f"error: run: run {run_id} is cancelled, not paused\n")


def test_pause_resume_cancel_refuse_a_finished_run(capsys: pytest.CaptureFixture[str],
                                                   redis_client: redis.Redis) -> None:
    """Every message final: the stored status is still `running`, but pausing it would
    leave a run that never ends paused (and `status` degraded for good)."""
    from mailer.digest.runs import RunStatus

    for address in ("a@example.com", "b@example.com"):
        assert run(["subscribers", "add", address, "--confirmed"], capsys)[0] == 0
    run(["digest", "run", "--date", "2020-10-28", "--no-wait"], capsys)
    [run_info] = stores().runs.recent()
    ledger = stores().ledger
    for job_id in ledger.unsent_in_run(run_info.id):
        ledger.mark(job_id, JobStatus.SENT, "250 ok")
    for verb in ("pause", "resume", "cancel"):
        code, out, err = run(["digest", verb, run_info.id], capsys)
        assert (code, out) == (2, "")
        assert err == (f"error: run: run {run_info.id} is done (all 2 of its messages are "
                       f"final): there is nothing to {verb}\n")
    assert stores().runs.get(run_info.id).status is RunStatus.RUNNING


def test_runs_are_named_by_any_unique_prefix_as_tables_show_them(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """At 80 columns `digest runs` shows as much of each id as tells the runs apart,
    and pause, resume, cancel and `deliveries --digest` take that (as git takes commits);
    a prefix of several runs is refused with their ids."""
    from datetime import UTC, datetime

    monkeypatch.setenv("COLUMNS", "80")
    runs = stores().runs
    now = datetime.now(UTC)
    for run_id in ("e3bf0d11aaaa", "e3bf0d22bbbb", "77aa0000cccc"):
        runs.open(run_id, "2020-10-28", now)
        runs.set_total(run_id, 3)  # none of them final yet
    out = run(["digest", "runs"], capsys)[1]
    shown = re.findall(r"│ (\w+)…? +│ 2020-10-28", out)
    assert sorted(shown) == ["77aa0000", "e3bf0d11", "e3bf0d22"], out
    assert run(["digest", "pause", "e3bf0d11"], capsys)[1] == "run e3bf0d11aaaa: paused\n"
    assert run(["digest", "cancel", "77aa…"], capsys)[1].startswith("run 77aa0000cccc: ")
    code, out, err = run(["digest", "resume", "e3bf"], capsys)
    assert (code, out) == (2, "")
    assert err == ("error: run: 'e3bf' names more than one run: e3bf0d11aaaa, e3bf0d22bbbb; "
                   "give more of the id\n")
    assert run(["deliveries", "failed", "--digest", "e3bf0d2"], capsys)[0] == 0
    assert run(["digest", "pause", "e3bf0d9"], capsys)[2] == (
        "error: no digest or alert run 'e3bf0d9'\n")


def test_suppressions_add_list_remove(capsys: pytest.CaptureFixture[str], tmp_path: Path
                                      ) -> None:
    assert run(["suppressions", "add", "x@example.org", "--reason", "asked"], capsys)[1] == (
        "x@example.org: suppressed\n")
    assert run(["suppressions", "add", "X@example.org"], capsys)[1] == (
        "X@example.org: already suppressed\n")
    out = run(["suppressions", "list"], capsys)[1]
    assert "manual  x@example.org  asked" in out
    assert run(["suppressions", "remove", "x@example.org"], capsys)[0] == 0
    assert run(["suppressions", "list"], capsys)[1] == ""
