from __future__ import annotations

import re
import subprocess
import sys
import time

import httpx
import pytest

from mailer.config import ROOT, Settings
from mailer.queue import SHARE_QUEUE, SHARE_TASK
from tests.e2e.conftest import settings_env, wait_for_job, worker_log
from tests.support.smtp import RecordingHandler

ARTICLE = "non-aligned-movement-support-to-azerbaijan-over-karabakh-significant"
TITLE = "Non-Aligned Movement support to Azerbaijan over Karabakh significant"
URL = f"https://www.today.az/news/politics/{ARTICLE}.html"


def share(api: httpx.Client, friend_email: str, **changes: str) -> str:
    form = {"article_id": ARTICLE, "sender_name": "Aysel Məmmədova",
            "sender_email": "aysel@example.com", "friend_name": "Vüqar Əliyev",
            "friend_email": friend_email, "message": "Look at <b>this</b> & the NAM part."}
    form.update(changes)
    response = api.post("/share", json=form)
    assert response.status_code == 202, response.text
    return str(response.json()["job_id"])


def test_share_is_delivered_as_a_complete_email(api: httpx.Client,
                                                smtp_handler: RecordingHandler) -> None:
    job_id = share(api, "friend1@example.org")
    job = wait_for_job(api, job_id, {"sent", "failed"})
    assert (job["status"], job["attempts"]) == ("sent", 1)
    assert str(job["last_reply"]).startswith("250")
    [received] = smtp_handler.for_recipient("friend1@example.org")
    assert received.mail_from == "news@today.az"
    msg = received.message
    assert msg["From"] == '"Aysel Məmmədova via TODAY.AZ" <news@today.az>'
    assert msg["Reply-To"] == "Aysel Məmmədova <aysel@example.com>"
    assert msg["To"] == "Vüqar Əliyev <friend1@example.org>"
    assert msg["Subject"] == f"Recommended to you: {TITLE}"
    assert re.fullmatch(r"<[^@\s]+@www\.today\.az>", msg["Message-ID"])
    assert msg["Date"].datetime is not None
    text, html = (part.get_content() for part in msg.iter_parts())
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert html.count("<style") == 1, "only the media rules (tests/share/test_render.py)"
    assert re.search(rf'<a href="{re.escape(URL)}" style="[^"]*color:\s?#0b3d6e', html)
    assert "Look at &lt;b&gt;this&lt;/b&gt; &amp; the NAM part." in html
    assert "<b>this</b>" not in html
    assert TITLE in html and TITLE in text
    assert URL in text
    assert "> Look at <b>this</b> & the NAM part." in text


def test_internationalised_addresses_and_names(api: httpx.Client,
                                               smtp_handler: RecordingHandler) -> None:
    job_id = share(api, "vüqar@bücher.az", sender_name="Əli Həsənov",
                   sender_email="əli@bücher.az")
    assert wait_for_job(api, job_id, {"sent", "failed"})["status"] == "sent"
    [received] = smtp_handler.for_recipient("vüqar@bücher.az")
    assert received.smtputf8
    assert received.message["To"] == "Vüqar Əliyev <vüqar@bücher.az>"
    assert received.message["Reply-To"] == "Əli Həsənov <əli@bücher.az>"


def test_temporary_failure_is_retried_and_delivered_once(api: httpx.Client,
                                                         smtp_handler: RecordingHandler) -> None:
    smtp_handler.script("greylisted@example.org", "451 4.7.1 Greylisted, try again later")
    job_id = share(api, "greylisted@example.org")
    job = wait_for_job(api, job_id, {"sent", "failed"})
    assert (job["status"], job["attempts"]) == ("sent", 2)
    assert smtp_handler.attempts["greylisted@example.org"] == 2
    assert len(smtp_handler.for_recipient("greylisted@example.org")) == 1


def test_permanent_failure_is_recorded_and_not_retried(api: httpx.Client,
                                                       smtp_handler: RecordingHandler) -> None:
    smtp_handler.script("nobody@example.org", *["550 5.1.1 No such user"] * 5)
    job_id = share(api, "nobody@example.org")
    job = wait_for_job(api, job_id, {"sent", "failed"})
    assert (job["status"], job["attempts"]) == ("failed", 1)
    assert "550 DATA: 5.1.1 No such user" in str(job["last_reply"])
    time.sleep(1.5)  # longer than the fastest retry: a retry would have shown by now
    assert smtp_handler.attempts["nobody@example.org"] == 1
    assert smtp_handler.for_recipient("nobody@example.org") == []


def test_deferrals_stop_at_the_retry_horizon(api: httpx.Client,
                                            smtp_handler: RecordingHandler) -> None:
    smtp_handler.script("full@example.org", *["452 4.2.2 Mailbox full"] * 40)
    started = time.monotonic()
    job = wait_for_job(api, share(api, "full@example.org"), {"sent", "failed"})
    assert job["status"] == "failed"
    assert 2.0 < time.monotonic() - started < 8, "given up at the 3-second horizon"
    attempts = int(str(job["attempts"]))
    assert str(job["last_reply"]).startswith(f"gave up after {attempts} attempts: 452")
    assert 3 <= attempts == smtp_handler.attempts["full@example.org"]


def test_redelivered_task_does_not_email_twice(api: httpx.Client, e2e_settings: Settings,
                                               smtp_handler: RecordingHandler) -> None:
    from worker.producer import CeleryJobQueue

    job_id = share(api, "twice@example.org")
    wait_for_job(api, job_id, {"sent"})
    payload = {"job_id": job_id, "queued_at": 0, "share": {
        "article_id": ARTICLE, "sender_name": "A", "sender_email": "a@example.com",
        "friend_name": "B", "friend_email": "twice@example.org", "message": ""}}
    queue = CeleryJobQueue(e2e_settings)
    queue.enqueue(SHARE_TASK, payload, queue=SHARE_QUEUE)
    queue.close()
    deadline = time.monotonic() + 20
    while f"share {job_id} attempt 1: skipped" not in worker_log(e2e_settings):
        assert time.monotonic() < deadline, "the duplicate task never ran"
        time.sleep(0.05)
    assert len(smtp_handler.for_recipient("twice@example.org")) == 1
    assert api.get(f"/jobs/{job_id}").json()["attempts"] == 1


@pytest.mark.usefixtures("worker")
def test_cli_share_waits_for_delivery(e2e_settings: Settings,
                                      smtp_handler: RecordingHandler) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mailer.cli", "share", ARTICLE, "--sender-name", "Aysel",
         "--sender-email", "aysel@example.com", "--friend-name", "Cli Friend",
         "--friend-email", "cli@example.org", "--message", "From the shell", "--wait", "30"],
        env=settings_env(e2e_settings), capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    job_id, status = done.stdout.strip().splitlines()
    assert re.fullmatch(r"[0-9a-f]{32}", job_id)
    assert status.startswith("sent: 250")
    assert len(smtp_handler.for_recipient("cli@example.org")) == 1


def test_line_breaks_in_the_note_stay_in_the_body(api: httpx.Client,
                                                  smtp_handler: RecordingHandler) -> None:
    note = "Hi\r\nBcc: my whole office\r\n\r\n<b onclick='x()'>read</b> this"
    job_id = share(api, "note@example.org", message=note)
    assert wait_for_job(api, job_id, {"sent", "failed"})["status"] == "sent"
    [received] = smtp_handler.for_recipient("note@example.org")
    assert received.rcpt_tos == ("note@example.org",)
    assert received.message["Bcc"] is None
    html = received.message.get_body(("html",)).get_content()
    assert "&lt;b onclick=&#x27;x()&#x27;&gt;read&lt;/b&gt; this" in html
    assert "<b onclick" not in html
    text = received.message.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert "Bcc: my whole office\n" in text and "<b onclick='x()'>read</b> this" in text


def test_a_link_in_the_note_is_refused(api: httpx.Client) -> None:
    response = api.post("/share", json={
        "article_id": ARTICLE, "sender_name": "Aysel", "sender_email": "aysel@example.com",
        "friend_name": "Friend", "friend_email": "link@example.org",
        "message": "<a href='https://evil.example'>x</a>"})
    assert response.status_code == 422
    assert "must not contain links" in response.json()["errors"]["message"]


def test_each_attempt_is_one_json_log_line_without_the_address(
        api: httpx.Client, e2e_settings: Settings, smtp_handler: RecordingHandler) -> None:
    import json

    smtp_handler.script("logged@example.org", "451 4.7.1 try later")
    job_id = share(api, "logged@example.org")
    assert wait_for_job(api, job_id, {"sent", "failed"})["status"] == "sent"
    deadline = time.monotonic() + 5
    while True:
        lines = [json.loads(line) for line in worker_log(e2e_settings).splitlines()
                 if line.startswith("{") and job_id in line]
        if len(lines) == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert [(a["outcome"], a["smtp_code"]) for a in lines] == [("deferred", 451),
                                                               ("sent", 250)]
    for attempt in lines:
        assert attempt["event"] == "delivery_attempt" and attempt["kind"] == "share"
        assert attempt["domain"] == "example.org" and attempt["smtp_ms"] > 0
        assert attempt["queued_ms"] > 0
    assert "logged@example.org" not in worker_log(e2e_settings)


def test_readyz_with_a_worker_running(api: httpx.Client) -> None:
    response = api.get("/readyz")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"]["workers"]["detail"].startswith("mailer@")


def test_metrics_count_what_two_worker_processes_delivered(api: httpx.Client) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    def sent_shares() -> float:
        for family in text_string_to_metric_families(api.get("/metrics").text):
            for sample in family.samples:
                if sample.name == "mailer_messages_total" and sample.labels == {
                        "kind": "share", "outcome": "sent"}:
                    return sample.value
        return 0.0

    before = sent_shares()
    ids = [share(api, f"counted{i}@example.org") for i in range(20)]
    for job_id in ids:
        assert wait_for_job(api, job_id, {"sent", "failed"})["status"] == "sent"
    deadline = time.monotonic() + 5
    while sent_shares() - before < 20 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sent_shares() - before == 20


def test_status_with_a_worker_is_healthy(api: httpx.Client, e2e_settings: Settings,
                                         monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from tests.support.cli import run

    for name, value in settings_env(e2e_settings).items():
        if name.startswith("MAILER_"):
            monkeypatch.setenv(name, value)
    job_id = share(api, "status@example.org")
    assert wait_for_job(api, job_id, {"sent"})["status"] == "sent"
    code, out, err = run(["status", "--json"], capsys)
    status = json.loads(out)
    assert (code, status["problems"]) == (0, []), err
    [(name, queues)] = status["workers"].items()
    assert name.startswith("mailer@") and queues == ["alerts", "digest", "share"]
    assert status["outcomes"]["5m"]["share"]["sent"] >= 1
