"""Property tests: whatever a client puts in any field of the share form, the answer is
a 202 or a 4xx (never a 500), and a message built from anything accepted has no header
that a CR or LF could have split."""

from __future__ import annotations

import email
import json
from collections.abc import Callable, Iterator
from email import policy

import pytest
import redis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailer.articles.files import read_seed_articles
from mailer.config import Settings
from mailer.errors import InvalidInput
from mailer.local.embedded import RedisServer
from mailer.sending.mime import seven_bit
from mailer.services import make_renderer
from mailer.share.mail import build_share_envelope
from mailer.share.request import SHARE_FIELDS, validate_share
from mailer.web.app import create_app
from tests.conftest import NO_FLOOD_LIMITS
from tests.inbound.webhooks.signing import (
    MAILGUN_KEY,
    POSTMARK,
    TOPIC,
    SendgridSigner,
    SnsSigner,
    basic,
)

API_KEY = "props-api-key-0123456789"
SENDGRID = SendgridSigner()
SNS = SnsSigner()
ARTICLE = "non-aligned-movement-support-to-azerbaijan-over-karabakh-significant"
GOOD = {"article_id": ARTICLE, "sender_name": "Aysel", "sender_email": "aysel@example.com",
        "friend_name": "Vüqar", "friend_email": "vuqar@example.org", "message": "Hi"}
HEADERS = {"From", "To", "Reply-To", "Subject", "Date", "Message-ID", "MIME-Version",
           "Content-Type"}
# Text that reaches the parsers' corners: line breaks of every kind, NULs, angle
# brackets, encoded words, @ signs, long strings, non-Latin scripts.
TRICKY = st.one_of(
    st.text(max_size=300),
    st.text(alphabet=st.sampled_from(list("ab@.<>\"'=?\r\n\t\x00\u2028\x85 ,;:üə")),
            max_size=60),
    st.sampled_from(["a@b.example\r\nBcc: x@y.example", "=?utf-8?q?=0D=0ABcc:_x?=",
                     "x" * 5000, "", " ", "\r\n", "vüqar@bücher.az"]))


def fuzz_settings(tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer,
                  db: int, name: str) -> Settings:
    """An app's settings for fuzzing: every provider configured (so every webhook route
    is mounted), no flood limits, a Redis database of its own emptied, a migrated
    SQLite file."""
    from mailer.config import load_settings
    from mailer.db import make_engine, upgrade
    from tests.conftest import TEST_SECRET

    port = redis_server.port
    redis.Redis(port=port, db=db).flushdb()
    app_settings = load_settings(
        redis_url=f"redis://127.0.0.1:{port}/{db}", var_dir=tmp_path_factory.mktemp(name),
        secret_key=TEST_SECRET, api_key=API_KEY, ses_topic_arns=TOPIC,
        mailgun_signing_key=MAILGUN_KEY, postmark_webhook_user=POSTMARK[0],
        postmark_webhook_password=POSTMARK[1], sendgrid_verification_key=SENDGRID.public,
        **NO_FLOOD_LIMITS)
    engine = make_engine(app_settings.database)
    upgrade(engine)
    engine.dispose()
    return app_settings


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer
           ) -> Iterator[TestClient]:
    app_settings = fuzz_settings(tmp_path_factory, redis_server, 6, "props")
    with TestClient(create_app(app_settings, fetch=SNS.fetch),
                    raise_server_exceptions=False) as test_client:
        yield test_client
    redis.Redis(port=redis_server.port, db=6).flushdb()


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(SHARE_FIELDS), value=TRICKY)
def test_any_value_in_any_field_is_202_or_4xx(client: TestClient, field: str,
                                             value: str) -> None:
    response = client.post("/share", json={**GOOD, field: value})
    assert response.status_code == 202 or 400 <= response.status_code < 500, response.text
    if response.status_code != 202:
        assert response.json()["detail"]


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.fixed_dictionaries({f: TRICKY for f in SHARE_FIELDS if f != "article_id"}))
def test_an_accepted_share_builds_a_message_without_injected_headers(
        make_settings: Callable[..., Settings], values: dict[str, str]) -> None:
    try:
        share = validate_share({"article_id": ARTICLE, **values})
    except InvalidInput:
        return  # refused with a message: nothing is built
    # What the worker does with the payload: validate it again, render, build, and for
    # a relay without 8BITMIME re-encode; none of it may fail for what was accepted.
    assert validate_share(share.as_fields()) == share
    app_settings = make_settings()
    article = read_seed_articles(app_settings.seeds_dir)[0]
    envelope = build_share_envelope(make_renderer(app_settings).render(article, share), share,
                                    site_name="TODAY.AZ", from_email="news@today.az",
                                    domain="today.az")
    raw = envelope.content()
    if not envelope.smtputf8:
        assert seven_bit(raw).isascii()
    head = raw.split(b"\r\n\r\n", 1)[0]
    names = {line.split(b":", 1)[0].decode() for line in head.split(b"\r\n")
             if line and line[:1] not in (b" ", b"\t")}
    assert names == HEADERS
    parsed = email.message_from_bytes(raw, policy=policy.default)
    for name in HEADERS:
        assert "\r" not in str(parsed[name]) and "\n" not in str(parsed[name])


# JSON of any shape: nested or not, keys and strings with any code point, lone
# surrogates and noncharacters among them (written as \\u escapes, as a client may).
ODD = st.sampled_from(["\ud800", "\udfff", "a\udc80b", "\ufffe", "\uffff", "\ufdd0",
                       "\U0010ffff", "\u202e", "\u200b", "\x00"])
ANY_TEXT = st.one_of(st.text(max_size=40), ODD, TRICKY)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | ANY_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(ANY_TEXT, inner, max_size=4),
    max_leaves=20)
BODIES = st.one_of(
    st.builds(lambda extra: json.dumps({**GOOD, **extra}), st.dictionaries(
        st.sampled_from([*SHARE_FIELDS, "email", "name", "sections", "hour", "timezone"]),
        JSON, max_size=3)),
    st.builds(json.dumps, JSON),
    # Nested to any depth the size limit allows, in a field or at the top.
    st.integers(1, 7000).map(lambda n: json.dumps({**GOOD, "sender_name": "x"})[:-1]
                             + ', "message": ' + "[" * n + "]" * n + "}"),
    st.integers(1, 7000).map(lambda n: "[" * n + "]" * n),
    # Duplicate keys, and numbers too long to convert.
    st.sampled_from(['{"sender_name": "a", "sender_name": "b"}',
                     '{"hour": ' + "9" * 5000 + "}", '{"a": {"b": 1, "b": 2}}', "\ufeff{}"]))


def _signed(path: str, raw: bytes) -> tuple[bytes, dict[str, str]]:
    """The body as each provider would send it, signed where the tests can sign for the
    provider, so hostile JSON reaches the parsers behind the signature check too."""
    headers = {"content-type": "application/json", "x-api-key": API_KEY}
    if path == "/webhooks/sendgrid":
        headers.update(SENDGRID.headers(raw))
    elif path == "/webhooks/postmark":
        headers.update(basic(*POSTMARK))
    elif path == "/webhooks/ses" and raw.startswith(b"{"):
        try:  # a Message SNS signed: whatever the JSON says
            message = SNS.sign({"Type": "Notification", "MessageId": str(hash(raw)),
                                "Message": raw.decode("utf-8", "surrogatepass")})
            raw = json.dumps(message).encode()
        except UnicodeEncodeError:
            pass
    return raw, headers


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(body=BODIES, path=st.sampled_from([
    "/share", "/subscribe", "/articles", "/webhooks/bounce", "/webhooks/ses",
    "/webhooks/mailgun", "/webhooks/postmark", "/webhooks/sendgrid"]))
def test_any_json_body_is_answered_2xx_or_4xx(client: TestClient, body: str,
                                              path: str) -> None:
    raw, headers = _signed(path, body.encode("utf-8", "surrogatepass"))
    response = client.post(path, content=raw, headers=headers)
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        detail = response.json()["detail"]
        assert detail and "Traceback" not in detail and "Error" not in detail
