"""Property tests: whatever a client puts in any field of the share form, the answer is
a 202 or a 4xx (never a 500), and a message built from anything accepted has no header
that a CR or LF could have split."""

from __future__ import annotations

import email
from collections.abc import Callable, Iterator
from email import policy

import pytest
import redis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailer.api import create_app
from mailer.articles import read_seed_articles
from mailer.config import Settings
from mailer.embedded import RedisServer
from mailer.errors import InvalidInput
from mailer.message import build_share_envelope
from mailer.services import make_renderer
from mailer.validation import SHARE_FIELDS, validate_share
from tests.conftest import NO_FLOOD_LIMITS

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


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer
           ) -> Iterator[TestClient]:
    from mailer.config import load_settings
    from mailer.db import make_engine, upgrade
    from tests.conftest import TEST_SECRET

    port = redis_server.port
    redis.Redis(port=port, db=6).flushdb()
    app_settings = load_settings(
        redis_url=f"redis://127.0.0.1:{port}/6", var_dir=tmp_path_factory.mktemp("props"),
        secret_key=TEST_SECRET, **NO_FLOOD_LIMITS)
    engine = make_engine(app_settings.database)
    upgrade(engine)
    engine.dispose()
    with TestClient(create_app(app_settings), raise_server_exceptions=False) as test_client:
        yield test_client
    redis.Redis(port=port, db=6).flushdb()


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
    app_settings = make_settings()
    article = read_seed_articles(app_settings.seeds_dir)[0]
    envelope = build_share_envelope(make_renderer(app_settings).render(article, share), share,
                                    site_name="TODAY.AZ", from_email="news@today.az",
                                    domain="today.az")
    raw = envelope.content()
    head = raw.split(b"\r\n\r\n", 1)[0]
    names = {line.split(b":", 1)[0].decode() for line in head.split(b"\r\n")
             if line and line[:1] not in (b" ", b"\t")}
    assert names == HEADERS
    parsed = email.message_from_bytes(raw, policy=policy.default)
    for name in HEADERS:
        assert "\r" not in str(parsed[name]) and "\n" not in str(parsed[name])
