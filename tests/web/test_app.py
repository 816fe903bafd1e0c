"""The HTTP API against a real Redis (ledger, articles, Celery's broker queue); no worker
runs here, so accepted jobs stay on the queue where the test can see them."""

from __future__ import annotations

import base64
import json
import re

import pytest
import redis
from fastapi.testclient import TestClient

from mailer.local.embedded import RedisServer
from mailer.web.app import create_app

ARTICLE = "non-aligned-movement-support-to-azerbaijan-over-karabakh-significant"
FORM = {"article_id": ARTICLE, "sender_name": "Aysel Məmmədova",
        "sender_email": "aysel@example.com", "friend_name": "Vüqar Əliyev",
        "friend_email": "vuqar@example.org", "message": "Worth a read."}


def queued_payloads(redis_client: redis.Redis) -> list[dict[str, object]]:
    messages = [json.loads(raw) for raw in redis_client.lrange("share", 0, -1)]
    return [json.loads(base64.b64decode(m["body"]))[0][0] for m in messages]


def test_json_share_is_accepted_recorded_and_queued(client: TestClient,
                                                    redis_client: redis.Redis) -> None:
    response = client.post("/share", json=FORM)
    assert response.status_code == 202
    job_id = response.json()["job_id"]
    assert response.headers["location"] == f"/jobs/{job_id}"
    [payload] = queued_payloads(redis_client)
    assert payload["job_id"] == job_id
    assert payload["share"]["friend_email"] == "vuqar@example.org"  # type: ignore[index]
    status = client.get(f"/jobs/{job_id}").json()
    assert status["status"] == "queued"
    assert status["recipient"] == "v***@example.org"


def test_form_encoded_share_is_accepted(client: TestClient, redis_client: redis.Redis) -> None:
    response = client.post("/share", data=FORM)
    assert response.status_code == 202
    assert response.json()["status"] == "queued"
    assert len(queued_payloads(redis_client)) == 1


def test_multipart_share_is_accepted(client: TestClient, redis_client: redis.Redis) -> None:
    fields = [(name, (None, value.encode())) for name, value in FORM.items()]
    response = client.post("/share", files=fields)
    assert response.status_code == 202
    assert len(queued_payloads(redis_client)) == 1


def test_file_upload_is_refused(client: TestClient) -> None:
    response = client.post("/share", data=FORM, files={"attachment": ("a.txt", b"data")})
    assert response.status_code == 422
    assert response.json()["detail"].startswith("body: is not a valid form")


@pytest.mark.parametrize(("field", "value", "message"), [
    ("friend_email", "not-an-address", "An email address must have an @-sign."),
    ("sender_email", "", "is required"),
    ("sender_name", "x" * 101, "is longer than 100 characters"),
    ("friend_name", "Eve\r\nBcc: victim@example.net", "must be one line"),
    ("sender_email", "a@example.com\r\nBcc: victim@example.net",
     "must be a bare address with no spaces or line breaks"),
    ("message", "x" * 501, "is longer than 500 characters"),
    ("article_id", "Bad Id", "is not an article id (lower-case letters, digits and hyphens)"),
])
def test_invalid_field_is_422_with_its_message(client: TestClient, redis_client: redis.Redis,
                                               field: str, value: str, message: str) -> None:
    response = client.post("/share", json={**FORM, field: value})
    assert response.status_code == 422
    assert response.json()["errors"] == {field: message}
    assert redis_client.llen("share") == 0


def test_unknown_article_is_404(client: TestClient, redis_client: redis.Redis) -> None:
    response = client.post("/share", json={**FORM, "article_id": "no-such-story"})
    assert response.status_code == 404
    assert response.json() == {"detail": "unknown article 'no-such-story'"}
    assert redis_client.llen("share") == 0


@pytest.mark.parametrize(("body", "headers", "status", "detail"), [
    (b"{not json", {"content-type": "application/json"}, 400, "body: is not valid JSON"),
    (b"[1, 2]", {"content-type": "application/json"}, 422, "body: must be a JSON object"),
    (b"a=1&a=2", {"content-type": "application/x-www-form-urlencoded"}, 422,
     "a: is given more than once"),
    (b"sender_name=%FF", {"content-type": "application/x-www-form-urlencoded"}, 422,
     "body: is not a valid UTF-8 form"),
    (b"hello", {"content-type": "text/plain"}, 415, "Content-Type must be"),
    (b"x" * 20_000, {"content-type": "application/json"}, 413, "request body is larger"),
])
def test_malformed_bodies_get_precise_4xx(client: TestClient, body: bytes,
                                          headers: dict[str, str], status: int,
                                          detail: str) -> None:
    response = client.post("/share", content=body, headers=headers)
    assert response.status_code == status
    assert response.json()["detail"].startswith(detail)


def test_non_string_json_values(client: TestClient) -> None:
    response = client.post("/share", json={**FORM, "friend_email": ["a@example.com"]})
    assert response.status_code == 422
    assert response.json()["errors"] == {"friend_email": "must be a string"}


def test_article_page_has_the_share_form(client: TestClient) -> None:
    response = client.get(f"/articles/{ARTICLE}")
    assert response.status_code == 200
    assert "Recommend news to friend" in response.text
    assert 'name="friend_email"' in response.text
    assert client.get("/articles/nope").status_code == 404
    assert ARTICLE in client.get("/").text


def test_browser_form_post_gets_html_back(client: TestClient, redis_client: redis.Redis) -> None:
    html = {"accept": "text/html,application/xhtml+xml"}
    ok = client.post("/share", data=FORM, headers=html, follow_redirects=False)
    assert ok.status_code == 303 and ok.headers["location"].startswith("/shared/")
    thanks = client.get(ok.headers["location"], headers=html)
    assert thanks.status_code == 200 and "is on its way" in thanks.text
    bad = client.post("/share", data={**FORM, "friend_email": "nope",
                                      "sender_name": "<script>"}, headers=html)
    assert bad.status_code == 422
    assert "An email address must have an @-sign." in bad.text
    assert 'value="&lt;script&gt;"' in bad.text
    assert "<title>Error: " in bad.text
    assert 'role="alert" tabindex="-1" autofocus' in bad.text, \
        "the answer opens at the errors (a fragment in the URL would block autofocus)"
    summary = bad.text[bad.text.index('class="error-summary"'):]
    summary = summary[:summary.index("</div>")]
    assert '<a href="#friend_email">' in summary and '<a href="#sender_name">' in summary
    field = re.search(r'<input id="friend_email"[^>]*>', bad.text)
    assert field and 'aria-invalid="true"' in field.group(0)
    assert 'aria-describedby="friend_email-error"' in field.group(0)
    assert 'id="friend_email-error"' in bad.text
    assert re.search(r'id="sender_name-error">Your name must [^<]+\.<', bad.text), \
        "whole sentences, not fragments"
    assert bad.text.count("<script>") == 2, \
        "the page's own scripts (the note's count, the sign-up's zone), nothing typed"
    assert len(queued_payloads(redis_client)) == 1


def test_unknown_job_is_404(client: TestClient) -> None:
    assert client.get("/jobs/nope").status_code == 404
    assert client.get("/jobs/" + "x" * 500).status_code == 404


def test_redis_outage_is_503_not_500(make_settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    own = RedisServer(tmp_path / "redis").start()
    app = create_app(make_settings(redis_url=own.url))
    with TestClient(app, raise_server_exceptions=False) as client:
        own.stop()
        response = client.post("/share", json=FORM)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert "unavailable" in response.json()["detail"]


def test_a_broker_of_its_own_away_is_503_naming_it(make_settings, redis_client) -> None:  # type: ignore[no-untyped-def]
    """RabbitMQ away, Redis and the database up: the share is refused with 503 (its row
    says it was not queued), and /readyz, /metrics and the ops figures say which."""
    from mailer.local.embedded import free_port

    dead = f"amqp://mailer:secret@127.0.0.1:{free_port()}//"
    settings = make_settings(broker_url=dead, api_key="ops-key")
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        share = client.post("/share", json=FORM)
        ready = client.get("/readyz")
        metrics = client.get("/metrics")
        ops = client.get("/ops/status.json", headers={"X-API-Key": "ops-key"})
    assert share.status_code == 503
    assert share.json()["detail"].startswith("the queue's broker (RabbitMQ) is not answering")
    assert ready.status_code == 503
    checks = ready.json()["checks"]
    assert checks["redis"]["ok"] and checks["database"]["ok"]
    assert not checks["broker"]["ok"] and "(RabbitMQ) is not answering" in \
        checks["broker"]["detail"]
    assert "secret" not in ready.text
    for answer in (metrics, ops):
        assert answer.status_code == 503, answer.text
        assert "(RabbitMQ) is not answering" in answer.json()["detail"]


def test_ledger_holds_the_normalised_recipient(client: TestClient) -> None:
    response = client.post("/share", json={**FORM, "friend_email": "Vuqar@Bücher.AZ"})
    job = client.get(response.headers["location"]).json()
    assert job["recipient"] == "V***@xn--bcher-kva.az"


@pytest.mark.parametrize("field", ["article_id", "sender_name", "sender_email", "friend_name",
                                   "friend_email"])
@pytest.mark.parametrize("payload", ["\r\nBcc: victim@example.net", "\nTo: victim@example.net",
                                     "\rSubject: free money"])
@pytest.mark.parametrize("encoding", ["json", "form"])
def test_header_injection_in_every_header_field_is_422(client: TestClient,
                                                       redis_client: redis.Redis, field: str,
                                                       payload: str, encoding: str) -> None:
    fields = {**FORM, field: FORM[field] + payload}
    if encoding == "json":
        response = client.post("/share", json=fields)
    else:  # the line break travels as %0D%0A, as a browser or curl would send it
        response = client.post("/share", data=fields)
    assert response.status_code == 422
    assert list(response.json()["errors"]) == [field]
    assert redis_client.llen("share") == 0


def test_uvicorn_factory_refuses_bad_settings_with_one_line() -> None:
    import subprocess
    import sys

    from mailer.config import ROOT

    done = subprocess.run(
        [sys.executable, "-c", "from mailer.web.app import app_from_env; app_from_env()"],
        env={"PATH": "/usr/bin:/bin", "MAILER_SMTP_URL": "smtp://relay:99999"},
        capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 2
    assert done.stderr == ("error: MAILER_SMTP_URL: port is not a number from 1 to 65535\n")


def test_uvicorn_factory_refuses_the_demo_secret_key() -> None:
    import subprocess
    import sys

    from mailer.config import ROOT

    done = subprocess.run(
        [sys.executable, "-c", "from mailer.web.app import app_from_env; app_from_env()"],
        env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 2
    assert done.stderr.startswith("error: MAILER_SECRET_KEY: set a secret key of at least 16 ")
    assert done.stderr.count("\n") == 1


def test_readyz_without_a_worker_is_503_and_says_why(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["redis"]["ok"] and checks["database"]["ok"]
    assert checks["workers"] == {"ok": False,
                                 "detail": "no worker answered a ping within 1 s"}
    assert client.get("/healthz").json() == {"status": "ok"}
    assert checks["relays"] == {"ok": True, "detail": "ok"}


def test_an_unhealthy_relay_is_told_by_readyz_and_metrics(
        client: TestClient, redis_client: redis.Redis) -> None:
    from mailer.sending.relay_health import RelayHealth

    [line] = [line for line in client.get("/metrics").text.splitlines()
              if line.startswith("mailer_relay_healthy{")]
    relay = line.split('relay="')[1].split('"')[0]
    assert line.endswith(" 1.0")
    health = RelayHealth(redis_client)
    health.mark_down(relay, "530 RCPT TO: 5.7.0 Authentication required")
    checks = client.get("/readyz").json()["checks"]
    assert checks["relays"] == {"ok": False, "detail": f"{relay}: 530 RCPT TO: 5.7.0 "
                                                       "Authentication required"}
    assert f'mailer_relay_healthy{{relay="{relay}"}} 0.0' in client.get("/metrics").text


@pytest.mark.parametrize(("body", "errors"), [
    # Deep nesting inside the size limit: the standard parser would recurse into a 500.
    ('{"sender_name": "a", "message": ' + "[" * 5000 + "]" * 5000 + "}",
     {"message": "is nested more than 32 levels deep"}),
    ("[" * 6000 + "]" * 6000, {"body": "is nested more than 32 levels deep"}),
    # Lone surrogates and noncharacters, written as escapes: refused, naming the field.
    (json.dumps({**FORM, "sender_name": "Ay\ud800sel"}),
     {"sender_name": "contains characters that are not valid text (invalid Unicode)"}),
    (json.dumps({**FORM, "message": "\ufffe"}),
     {"message": "contains characters that are not valid text (invalid Unicode)"}),
    # Every field at most once, as the README says.
    ('{"sender_name": "Aysel", "sender_name": "Mallory"}',
     {"sender_name": "is given more than once"}),
    ('{"hour": ' + "9" * 5000 + "}", {"body": "holds a number too long to read"}),
])
def test_hostile_json_is_a_422_naming_the_field(client: TestClient, redis_client: redis.Redis,
                                                body: str, errors: dict[str, str]) -> None:
    response = client.post("/share", content=body.encode("utf-8", "surrogatepass"),
                           headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json()["errors"] == errors
    assert redis_client.llen("share") == 0


def test_a_form_with_a_noncharacter_is_refused_naming_the_field(client: TestClient) -> None:
    response = client.post("/share", content=b"sender_name=%EF%BF%BE",
                           headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 422
    assert response.json()["errors"] == {
        "sender_name": "contains characters that are not valid text (invalid Unicode)"}


@pytest.mark.parametrize("path", ["/", f"/articles/{ARTICLE}", "/healthz", "/openapi.json"])
def test_head_answers_every_get_route(client: TestClient, path: str) -> None:
    got, head = client.get(path), client.head(path)
    assert head.status_code == got.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == got.headers["content-type"]
    assert client.head("/share").status_code == 405, "a POST-only route still says so"


def test_a_bad_hour_is_said_for_a_person(client: TestClient) -> None:
    response = client.post("/subscribe", json={"email": "a@example.com", "hour": "²"})
    assert response.status_code == 422
    assert response.json()["errors"] == {"hour": "must be a whole hour from 0 to 23"}


def test_metrics_asks_for_the_bearer_token_once_one_is_set(make_settings, redis_client  # type: ignore[no-untyped-def]
                                                           ) -> None:
    """MAILER_METRICS_TOKEN, for sites that cannot restrict /metrics at their proxy:
    Prometheus's `authorization: credentials:` sends it as a bearer token."""
    with TestClient(create_app(make_settings(metrics_token="scrape-token-123")),
                    raise_server_exceptions=False) as client:
        for headers in ({}, {"authorization": "Bearer wrong-token"}):
            refused = client.get("/metrics", headers=headers)
            assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
            assert refused.json() == {"detail": "missing or wrong bearer token "
                                                "(MAILER_METRICS_TOKEN)"}
            assert "mailer_" not in refused.text
        taken = client.get("/metrics", headers={"authorization": "Bearer scrape-token-123"})
        assert taken.status_code == 200 and "mailer_relay_healthy" in taken.text
    with TestClient(create_app(make_settings()), raise_server_exceptions=False) as client:
        assert client.get("/metrics").status_code == 200, "unset: keyless, as before"
