"""`mailer status` without any worker: degraded (exit 1), with the backlog visible."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import redis

from tests.cli.test_commands import SHARE, env  # noqa: F401 - the shared fixture
from tests.support.cli import run

NO_WORKER = "no worker answered a ping: start the workers"

pytestmark = pytest.mark.usefixtures("env")


def test_no_worker_is_degraded_and_the_backlog_shows(
        capsys: pytest.CaptureFixture[str], redis_client: redis.Redis, tmp_path: Path) -> None:
    assert run(SHARE, capsys)[0] == 0  # queued; nothing consumes it
    code, out, _ = run(["status", "--json", "--timeout", "0.3"], capsys)
    assert code == 1
    status = json.loads(out)
    assert not status["healthy"]
    assert NO_WORKER in (p[:len(NO_WORKER)] for p in status["problems"])
    share = next(q for q in status["queues"] if q["name"] == "share")
    assert share["waiting"] == 1 and 0 <= share["oldest_seconds"] < 60
    assert status["workers"] == {}
    assert status["next_digest"] is None


def test_old_backlog_is_named(capsys: pytest.CaptureFixture[str],
                              redis_client: redis.Redis) -> None:
    redis_client.lpush("digest", json.dumps({"headers": {"queued_at": 1.0}}))
    code, out, _ = run(["status", "--json", "--timeout", "0.3", "--max-age", "60"], capsys)
    problems = json.loads(out)["problems"]
    assert code == 1 and any(p.startswith("the oldest job in digest has waited") for p in problems)


def test_tables_render(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["status", "--timeout", "0.3"], capsys)
    assert code == 1
    assert "degraded" in out and "Queues" in out and "Send-rate limits" in out


def test_next_digest_is_the_earliest_local_hour(capsys: pytest.CaptureFixture[str]) -> None:
    from datetime import UTC, datetime

    from mailer import services
    from mailer.config import load_settings
    from mailer.ops.status import next_digest_time
    from mailer.subscriptions.model import Preferences, SignUp

    stores = services.stores(load_settings(), seed=False)
    for email, zone, hour in (("a@example.org", "Asia/Baku", 7),
                              ("b@example.org", "Europe/London", 6)):
        stores.subscribers.add_active(SignUp(email, "", Preferences(("politics",), zone, hour)))
    now = datetime(2026, 11, 27, 4, 0, tzinfo=UTC)  # 08:00 in Baku, 04:00 in London
    due = next_digest_time(stores, now)
    assert due is not None and due.astimezone(UTC) == datetime(2026, 11, 27, 6, 0, tzinfo=UTC)


def test_an_unhealthy_relay_is_a_problem_until_mail_goes_through(
        capsys: pytest.CaptureFixture[str], redis_client: redis.Redis) -> None:
    from mailer.config import load_settings
    from mailer.sending.relay_health import RelayHealth

    relay = load_settings().smtp_relays[0].id
    health = RelayHealth(redis_client)
    health.mark_down(relay, "554 RCPT TO: 5.7.1 <a@example.org>: Relay access denied")
    code, out, _ = run(["status", "--json", "--timeout", "0.3"], capsys)
    status = json.loads(out)
    assert code == 1
    assert any(p.startswith(f"relay {relay} is unhealthy since ") and
               "Relay access denied; fix its settings" in p and
               p.endswith("(docs/operations.md#newsmailerrelayunhealthy)")
               for p in status["problems"])
    [state] = status["relays"]
    assert state["id"] == relay and not state["healthy"] and state["since"]
    code, out, _ = run(["status", "--timeout", "0.3"], capsys)
    assert "Relays" in out and "unhealthy" in out
    health.mark_up(relay)
    code, out, _ = run(["status", "--json", "--timeout", "0.3"], capsys)
    assert json.loads(out)["relays"][0]["healthy"]


def test_a_relay_never_contacted_is_unknown_not_healthy(
        capsys: pytest.CaptureFixture[str], redis_client: redis.Redis) -> None:
    from mailer.config import load_settings
    from mailer.sending.relay_health import RelayHealth

    relay = load_settings().smtp_relays[0].id
    out = run(["status", "--json", "--timeout", "0.3"], capsys)[1]
    [state] = json.loads(out)["relays"]
    assert (state["id"], state["state"], state["healthy"]) == (relay, "unknown", True)
    assert not any(relay in p for p in json.loads(out)["problems"]), "not a problem"
    out = run(["status", "--timeout", "0.3"], capsys)[1]
    assert "unknown: no message went through it yet" in out
    RelayHealth(redis_client).mark_up(relay)  # a message went through it
    out = run(["status", "--json", "--timeout", "0.3"], capsys)[1]
    assert json.loads(out)["relays"][0]["state"] == "healthy"


def test_a_paused_run_names_its_next_step(capsys: pytest.CaptureFixture[str]) -> None:
    from datetime import UTC, datetime

    from mailer import services
    from mailer.config import load_settings

    runs = services.stores(load_settings(), seed=False).runs
    runs.open("run-x", "2020-10-28", datetime.now(UTC))
    runs.pause("run-x", "relay refused us")
    problems = json.loads(run(["status", "--json", "--timeout", "0.3"], capsys)[1])["problems"]
    assert ("digest run run-x is paused: relay refused us; fix the cause, then `mailer digest "
            "resume run-x` (or `mailer digest cancel run-x`)") in problems


def test_an_urgent_lane_has_a_shorter_limit(capsys: pytest.CaptureFixture[str],
                                            redis_client: redis.Redis) -> None:
    import time
    redis_client.lpush("alerts", json.dumps({"headers": {"queued_at": time.time() - 90}}))
    redis_client.lpush("digest", json.dumps({"headers": {"queued_at": time.time() - 90}}))
    code, out, _ = run(["status", "--json", "--timeout", "0.3"], capsys)
    status = json.loads(out)
    limits = {q["name"]: q["max_age"] for q in status["queues"]}
    assert code == 1 and limits == {"share": 60, "alerts": 60, "digest": 300}
    assert any(p.startswith("the oldest job in alerts has waited 90 s (limit 60 s)")
               for p in status["problems"])
    assert not any("the oldest job in digest" in p for p in status["problems"])
    code, out, _ = run(["status", "--json", "--timeout", "0.3", "--urgent-max-age", "120"],
                       capsys)
    assert not any("the oldest job" in p for p in json.loads(out)["problems"])


def test_newsletters_and_alerts_in_the_tables(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(["status", "--json", "--timeout", "0.3"], capsys)
    status = json.loads(out)
    assert [(n["slug"], n["cadence"], n["weekday"], n["readers"])
            for n in status["newsletters"]] == [("daily", "daily", None, 0),
                                                ("weekly", "weekly", "Sunday", 0),
                                                ("breaking", "immediate", None, 0)]
    assert status["alerts"] == []
    _, out, _ = run(["status", "--timeout", "0.3"], capsys)
    assert "Newsletters" in out and "weekly, Sunday" in out
    assert "Breaking-news alerts" in out and "first sent" in out


def test_a_hung_redis_is_reported_within_the_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Redis that takes connections and never answers (stopped with SIGSTOP, a dead
    NAT entry) kept `mailer status` waiting for ever; now it is exit 3 within --timeout
    (and the broker's own sockets time out after 5 s)."""
    import socket
    import subprocess
    import sys
    import time

    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(16)  # the kernel completes connections; nobody ever answers
        monkeypatch.setenv("MAILER_REDIS_URL", f"redis://127.0.0.1:{hung.getsockname()[1]}/0")
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "mailer.cli", "status", "--timeout", "0.5"],
                              capture_output=True, text=True, timeout=30, check=False)
        took = time.monotonic() - started
    assert done.returncode == 3, done.stderr
    assert "is not answering (Timeout" in done.stderr
    assert took < 5, f"{took:.1f} s: not before the 5 s connect timeout"


def test_an_empty_postal_address_is_a_note_not_a_failure(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAILER_POSTAL_ADDRESS", "")
    _, out, _ = run(["status", "--json", "--timeout", "0.3"], capsys)
    status = json.loads(out)
    assert any(n.startswith("MAILER_POSTAL_ADDRESS is empty") for n in status["notes"])
    assert not any("POSTAL" in p for p in status["problems"]), "a note: nothing fails"
    monkeypatch.setenv("MAILER_POSTAL_ADDRESS", "28 May Street 5, Baku AZ1010, Azerbaijan")
    _, out, _ = run(["status", "--timeout", "0.3"], capsys)
    assert "MAILER_POSTAL_ADDRESS" not in out
