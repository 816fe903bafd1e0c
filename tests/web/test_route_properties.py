"""Property tests over every route the app has: whatever a client sends (a body of
generated fields, missing, repeated, of the wrong JSON type, huge or of odd Unicode, as
JSON, a form or multipart; any path parameter; any query), with or without the API
key, the answer is a 2xx, 3xx or 4xx that a person can read (a page for a browser, a
sentence in JSON for a program), never a 500.

The routes are the routers' own (`mailer.web.app.ROUTERS`, what `create_app` mounts,
which a test here checks), so a new route is covered without a line here. Tokens are
made with the app's own `Tokens` for every purpose and for readers who exist, are
pending, have left or never were, then forged or sent to the wrong page.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
import redis
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from starlette.routing import BaseRoute, Route

from mailer.articles.files import read_seed_articles
from mailer.local.embedded import RedisServer
from mailer.subscriptions.model import Preferences, SignUp, unsubscribe_value
from mailer.tokens import Purpose, Tokens
from mailer.web.app import ROUTERS, create_app
from tests.web.test_properties import (
    API_KEY,
    ARTICLE,
    GOOD,
    ODD,
    SNS,
    _signed,
    fuzz_settings,
)


def _walk(routes: Sequence[BaseRoute]) -> Iterator[Route]:
    """Every route, also those of included routers (FastAPI mounts each router as one
    entry that holds its routes)."""
    for route in routes:
        if isinstance(route, Route):
            yield route
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _walk(inner.routes)


def _bare_app() -> FastAPI:
    app = FastAPI()
    for router in ROUTERS:
        app.include_router(router)
    return app


def _methods(app: FastAPI) -> list[tuple[str, str]]:
    return sorted((m, r.path) for r in _walk(app.routes) for m in r.methods or ()
                  if m != "HEAD") + sorted(("HEAD", r.path) for r in _walk(app.routes)
                                           if "GET" in (r.methods or ()))


# /readyz takes no input and answers 503 by design here (no worker answers its ping,
# which it waits a second for); every other route is generated.
NOT_GENERATED = {"/readyz"}
ROUTES = [(m, p) for m, p in _methods(_bare_app()) if p not in NOT_GENERATED]
# The routes that read a body or a token are drawn more often: that is where input is;
# the two that take none and ask Redis and the broker for seconds, seldom.
SLOW = {"/ops/status.json", "/metrics"}
WEIGHTED = [route for route in ROUTES for _ in range(
    1 if route[1] in SLOW else 12 if route[0] in ("POST", "PATCH") or "{token}" in route[1]
    else 4)]
QUERIES = {r.path: [p.name for p in r.dependant.query_params]
           for r in _walk(_bare_app().routes) if isinstance(r, APIRoute)}
SEEDS = Path(__file__).resolve().parents[2] / "seeds"
SEED = read_seed_articles(SEEDS)[0]
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
# Every field name any form or JSON route reads, and a few nobody does.
FIELDS = ["article_id", "sender_name", "sender_email", "friend_name", "friend_email",
          "message", "website", "email", "name", "sections", "sections-weekly",
          "sections-breaking", "timezone", "timezone_hint", "hour", "at_night", "scope",
          "slug", "cadence", "weekday", "when", "sender_name", "template", "position",
          "id", "title", "section", "published", "url", "lead", "body", "image_url",
          "breaking", "type", "reason", "bounces", "Type", "Message", "", "__proto__"]
TEXT = st.one_of(
    st.text(max_size=40), ODD,
    st.sampled_from(["", " ", "0", "-1", "24", "99999999999999999999", "1e400", "NaN",
                     "true", "null", "all", "politics", "politics,economy", "Asia/Baku",
                     "UTC+4", "../../etc/passwd", "x" * 3000, "a@b.example", "=1+1",
                     "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00",
                     "\ud800", "weekly", "immediate", "everything", "One-Click"]))
SCALAR = st.none() | st.booleans() | st.integers() | st.floats() | TEXT
VALUE = st.recursive(SCALAR, lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(TEXT, inner, max_size=3), max_leaves=8)


@dataclass(frozen=True)
class Request:
    """One generated request, as the test client sends it."""
    method: str
    url: str
    headers: dict[str, str]
    content: bytes


@dataclass(frozen=True)
class Site:
    client: TestClient
    routes: list[tuple[str, str]]  # what create_app mounted
    tokens: list[str]  # valid for each purpose and reader, then forged


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer
         ) -> Iterator[Site]:
    app_settings = fuzz_settings(tmp_path_factory, redis_server, 7, "routes")
    app = create_app(app_settings, fetch=SNS.fetch)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Site(client, _methods(app), _tokens(app.state.web.stores, app.state.web.tokens))
    redis.Redis(port=redis_server.port, db=7).flushdb()


# The links a path's {token} may be: each purpose's, for a pending, an active and an
# unsubscribed reader, an id that was never a reader's, an empty one, a huge one, a
# newsletter's unsubscribe value (one offered, one not); each forged by its last
# letters; the refusal link of a friend's address. A URL names one as @TOKEN<i>@.
READERS = ("pending", "active", "gone", "unknown", "empty", "huge", "weekly", "no-such")
TOKEN_SPECS = [(purpose, who, forged) for forged in (False, True) for purpose in Purpose
               for who in READERS] + [(Purpose.REFUSE_SHARES, "friend", False)]


def _tokens(stores: object, tokens: Tokens) -> list[str]:
    subscribers = stores.subscribers  # type: ignore[attr-defined]
    chosen = Preferences(("politics",), "Asia/Baku", 7)
    ids = {}
    for who in ("pending", "active", "gone"):
        ids[who], _ = subscribers.sign_up(SignUp(f"{who}@example.org", who, chosen),
                                          timedelta(0))
    subscribers.confirm(ids["active"].id)
    subscribers.unsubscribe(subscribers.confirm(ids["gone"].id).id)
    values = {who: person.id for who, person in ids.items()} | {
        "unknown": "0" * 32, "empty": "", "huge": "x" * 500,
        "weekly": unsubscribe_value(ids["active"].id, "weekly"),
        "no-such": unsubscribe_value(ids["active"].id, "no-such"),
        "friend": "friend@example.org"}
    made = []
    for purpose, who, forged in TOKEN_SPECS:
        token = tokens.make(purpose, values[who])
        made.append(token[:-2] + ("AA" if token[-2:] != "AA" else "BB") if forged else token)
    return made


def _resolve(url: str, site: Site) -> str:
    return re.sub(r"@TOKEN(\d+)@", lambda m: site.tokens[int(m.group(1))], url)


def _path_value(name: str, path: str) -> st.SearchStrategy[str]:
    """What a path parameter may hold: its kind's edge cases, and anything at all. A
    token is most often one made for the route's purpose (to reach what is behind the
    check), else any other, forged or wrong-purpose one, or any text."""
    anything = st.text(min_size=1, max_size=80).filter(lambda s: s not in (".", ".."))
    if name == "token":
        page = path.strip("/").split("/")[0]
        right = [i for i, (purpose, _, forged) in enumerate(TOKEN_SPECS) if not forged and (
            purpose.value == page or (page, purpose) == ("preferences", Purpose.MANAGE))]
        return st.one_of(st.sampled_from(right), st.sampled_from(right),
                         st.integers(0, len(TOKEN_SPECS) - 1)).map(
            lambda i: f"@TOKEN{i}@") | anything
    if name == "edition":
        return st.sampled_from(["0001-01-01", "9999-12-31", "2026-11-26", "2026-02-29",
                                "2024-02-29", str(SEED.published.date()), "0000-00-00",
                                "+2026-01-01", "2026-1-1",
                                "2026-11-26T00:00", "٢٠٢٦-١١-٢٦"]) | st.dates().map(
            str) | anything
    if name == "slug":  # the newsletters offered, most often
        known = st.sampled_from(["daily", "weekly", "breaking", "fuzz"])
        return st.one_of(known, known, anything)
    return st.sampled_from([ARTICLE, "0" * 32, "x" * 500, "-1"]) | anything


def _query(names: list[str]) -> st.SearchStrategy[list[tuple[str, str]]]:
    values = TEXT | st.integers().map(str) | st.sampled_from(["1", "7", "8", "0"])
    return st.lists(st.tuples(st.sampled_from([*names, "x"]) if names else st.just("x"),
                              values), max_size=4)


def _json_body() -> st.SearchStrategy[bytes]:
    fields = st.dictionaries(st.sampled_from(FIELDS), VALUE, max_size=8)
    return st.one_of(fields.map(json.dumps), VALUE.map(json.dumps),
                     st.lists(fields, max_size=3).map(json.dumps)).map(
        lambda text: text.encode("utf-8", "surrogatepass"))


def _pairs() -> st.SearchStrategy[list[tuple[str, str]]]:
    return st.lists(st.tuples(st.sampled_from(FIELDS) | st.text(max_size=10), TEXT),
                    max_size=10)


def _encoded(pairs: list[tuple[str, str]]) -> bytes:
    return urlencode([(k.encode("utf-8", "surrogatepass"), v.encode("utf-8", "surrogatepass"))
                      for k, v in pairs]).encode()


def _form() -> st.SearchStrategy[bytes]:
    return _pairs().map(_encoded)


def _multipart(pairs: list[tuple[str, str]], with_file: bool) -> bytes:
    parts = [f'--B\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
             for k, v in pairs]
    if with_file:
        parts.append('--B\r\nContent-Disposition: form-data; name="f"; filename="a.csv"\r\n'
                     "Content-Type: text/csv\r\n\r\n=1+1\r\n")
    return ("".join(parts) + "--B--\r\n").encode("utf-8", "surrogatepass")


BODIES = st.one_of(
    st.tuples(st.just("application/json"), _json_body()),
    st.tuples(st.just("application/x-www-form-urlencoded"), _form()),
    st.tuples(st.just("multipart/form-data; boundary=B"),
              st.builds(_multipart, _pairs(), st.booleans())),
    st.tuples(st.sampled_from(["", "text/plain", "application/json; charset=latin-1",
                               "multipart/form-data", "multipart/form-data; boundary=",
                               "application/x-www-form-urlencoded; charset=utf-16"]),
              st.binary(max_size=200)),
    # Too big, too many fields, nested too deep, cut off.
    st.sampled_from([("application/x-www-form-urlencoded", b"a=" + b"x" * 4_200_000),
                     ("application/x-www-form-urlencoded", b"sections=a&" * 500),
                     ("application/json", b"[" * 100_000),
                     ("application/json", b'{"email": "a@b.example", "name": "'),
                     ("multipart/form-data; boundary=B", b"--B\r\nContent-Disposition: "
                                                         b'form-data; name="email"\r\n\r\nx')]))
# Bodies that pass most checks, for the routes that read one: each field kept, left
# out or swapped for any JSON value, and extra fields added.
NEWSLETTER = {"slug": "fuzz", "name": "Fuzz", "cadence": "weekly", "weekday": "monday",
              "sections": ["politics"], "sender_name": "Fuzz desk", "position": 3}
BASES: dict[str, dict[str, object]] = {
    "/share": GOOD, "/manage": {"email": "active@example.org"},
    "/subscribe": {"email": "new@example.org", "name": "N", "sections": ["politics"],
                   "hour": 7, "timezone": "Asia/Baku", "article_id": ARTICLE},
    "/preferences/{token}": {"sections": ["politics"], "sections-weekly": ["politics"],
                             "hour": 7, "timezone": "Asia/Baku", "at_night": "morning"},
    "/unsubscribe/{token}": {"scope": "everything"},
    "/newsletters": NEWSLETTER,
    "/newsletters/{slug}": {k: v for k, v in NEWSLETTER.items() if k != "slug"},
    "/articles": {**SEED.model_dump(mode="json"), "breaking": True},
    "/webhooks/bounce": {"email": "bounced@example.org", "type": "hard", "reason": "550"}}


@st.composite
def _near(draw: st.DrawFn, base: dict[str, object]) -> dict[str, object]:
    """The base as it is (what a good client sends), with one field changed, or with
    each field kept, left out or changed, and extra fields."""
    mode = draw(st.sampled_from(["whole", "one", "any"]))
    if mode == "whole":
        return dict(base)
    if mode == "one":
        key = draw(st.sampled_from(sorted(base)))
        fields = {k: v for k, v in base.items() if k != key}
        return fields if draw(st.booleans()) else {**fields, key: draw(VALUE)}
    fields = {}
    for key, value in base.items():
        fate = draw(st.sampled_from(["keep", "keep", "keep", "drop", "swap"]))
        if fate != "drop":
            fields[key] = value if fate == "keep" else draw(VALUE)
    return {**fields, **draw(st.dictionaries(st.sampled_from(FIELDS), VALUE, max_size=2))}


def _as_pairs(fields: dict[str, object], repeat: bool) -> list[tuple[str, str]]:
    """A form of the fields: a list as repeated fields, the rest as their text; with
    `repeat`, the first field twice."""
    pairs = [(key, item if isinstance(item, str) else json.dumps(item))
             for key, value in fields.items()
             for item in (value if isinstance(value, list) else [value])]
    return pairs + pairs[:1] if repeat else pairs


def _bodies(path: str) -> st.SearchStrategy[tuple[str, bytes]]:
    if path not in BASES:
        return BODIES
    near = _near(BASES[path])
    return st.one_of(
        near.map(lambda f: ("application/json", json.dumps(f).encode("utf-8", "surrogatepass"))),
        st.builds(lambda f, r: ("application/x-www-form-urlencoded", _encoded(_as_pairs(f, r))),
                  near, st.booleans()),
        st.builds(lambda f, r: ("multipart/form-data; boundary=B",
                                _multipart(_as_pairs(f, r), False)), near, st.booleans()),
        BODIES)


# The API key as each scheme carries it (most often: to reach what is behind the
# check), then none, a wrong one, malformed ones.
KEYED = st.sampled_from([
    {"x-api-key": API_KEY}, {"authorization": f"Bearer {API_KEY}"},
    {"authorization": "Basic " + base64.b64encode(f"ops:{API_KEY}".encode()).decode()}])
AUTH = KEYED | st.sampled_from([{}, {"x-api-key": "wrong"}, {"authorization": "Basic !!!"},
                                {"authorization": "Bearer"}, {"authorization": "Basic Og=="}])


@st.composite
def requests(draw: st.DrawFn) -> Request:
    method, path = draw(st.sampled_from(WEIGHTED))
    url = path
    for name in re.findall(r"{(\w+)}", path):
        url = url.replace(f"{{{name}}}", quote(draw(_path_value(name, path)).encode(
            "utf-8", "surrogatepass"), safe="@"))
    query = draw(_query(QUERIES.get(path, [])))
    if query:
        url += "?" + urlencode([(k, v.encode("utf-8", "surrogatepass")) for k, v in query])
    headers = {"accept": draw(st.sampled_from([BROWSER, "application/json", "*/*"])),
               **draw(AUTH)}
    content = b""
    if method in ("POST", "PATCH", "PUT"):
        ctype, content = draw(_bodies(path))
        if ctype:
            headers["content-type"] = ctype
        if path.startswith("/webhooks/") and draw(st.booleans()):
            content, signed = _signed(path, content)  # as the provider would send it
            headers.update(signed)
    return Request(method, url, headers, content)


def readable(request: Request, response: object) -> None:
    """A 2xx-4xx, and for an error something a person can read: a page with a title
    for a browser that asked for one, else JSON with a sentence."""
    status = response.status_code  # type: ignore[attr-defined]
    text = response.text  # type: ignore[attr-defined]
    assert status < 500, f"{request}\n{status} {text[:2000]}"
    if 300 <= status < 400:
        assert response.headers["location"]  # type: ignore[attr-defined]
        return
    if status < 400 or request.method == "HEAD":
        return
    ctype = response.headers.get("content-type", "")  # type: ignore[attr-defined]
    if ctype.startswith("text/html"):
        assert "<title>" in text and "Traceback" not in text, (request, text[:500])
        return
    detail = response.json()["detail"]  # type: ignore[attr-defined]
    assert isinstance(detail, str) and detail and "Traceback" not in detail, (request, text)


def test_every_route_the_app_mounts_is_generated(site: Site) -> None:
    assert [(m, p) for m, p in site.routes if p not in NOT_GENERATED] == ROUTES


@settings(max_examples=2500, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(sent=requests())
@example(Request("HEAD", "/digest/0001-01-01", {"accept": BROWSER}, b""))
@example(Request("GET", "/digest/9999-12-31?days=7&zone=Pacific/Kiritimati", {}, b""))
@example(Request("GET", "/digest/0001-01-01?days=", {"accept": BROWSER}, b""))
@example(Request("GET", "/preferences/@TOKEN9@?saved=maybe", {}, b""))
@example(Request("POST", "/preferences/@TOKEN16@",  # a form without the hour: the page
                 {"accept": BROWSER, "content-type": "application/json"}, b"{}"))
def test_any_request_to_any_route_is_answered_readably(site: Site, sent: Request
                                                       ) -> None:
    response = site.client.request(sent.method, _resolve(sent.url, site),
                                   headers=sent.headers, content=sent.content,
                                   follow_redirects=False)
    readable(sent, response)
    # `pytest --hypothesis-show-statistics` shows what the draws reached.
    event(f"{sent.method} /{sent.url.split('/')[1].split('?')[0]} {response.status_code}")



UNSUBSCRIBE_LINKS = [i for i, (purpose, who, forged) in enumerate(TOKEN_SPECS)
                     if purpose is Purpose.UNSUBSCRIBE and not forged
                     and who in ("pending", "active", "gone", "weekly", "no-such")]


@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(link=st.sampled_from(UNSUBSCRIBE_LINKS), body=BODIES | _bodies("/unsubscribe/{token}"),
       accept=st.sampled_from([BROWSER, "*/*"]))
def test_a_one_click_unsubscribe_is_200_whatever_the_body(
        site: Site, link: int, body: tuple[str, bytes], accept: str) -> None:
    """RFC 8058: a mailbox provider's POST to a good unsubscribe link is answered 200,
    whatever it sends (its body is `List-Unsubscribe=One-Click`, but a careless one's
    may be anything)."""
    ctype, content = body
    headers = {"accept": accept, **({"content-type": ctype} if ctype else {})}
    response = site.client.post(f"/unsubscribe/{site.tokens[link]}", content=content,
                                headers=headers, follow_redirects=False)
    assert response.status_code == 200, response.text[-1000:]
    assert "unsubscribed" in response.text
