"""What readers see, in a real browser: Debian's Chromium under WebDriver, against the
API served by uvicorn on a loopback port. Every page and every e-mail at 320, 375, 600
and 1280 px: no sideways scroll, no text under 13 px; every page: no serious or critical
axe-core violation; the share form's errors and a refresh of its answer, as a reader
meets them. Skipped, with the reason, where Chromium or its driver is not installed."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from mailer import services
from mailer.config import Settings
from mailer.delivery.ledger import Kind
from mailer.local.embedded import ApiServer, free_port
from mailer.services import make_tokens
from mailer.stores import Stores
from mailer.subscriptions.model import Preferences, SignUp
from mailer.tokens import Purpose
from mailer.web.app import create_app
from tests.support import browser
from tests.support.samples import EMAILS, SEED_ID, digest_articles, sample_emails

pytestmark = [pytest.mark.skipif(browser.missing() is not None,
                                 reason=browser.missing() or ""),
              pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with browser.chromium(tmp_path_factory.mktemp("chromium")) as chromium:
        yield chromium


@pytest.fixture
def site(make_settings: Callable[..., Settings]) -> Iterator[tuple[str, Settings, Stores]]:
    port = free_port()
    settings = make_settings(public_url=f"http://127.0.0.1:{port}",
                             api_key=SecretStr("browser-key"),
                             postal_address="28 May Street 5, Baku AZ1010, Azerbaijan")
    stores = services.stores(settings)
    stores.articles.put_many(digest_articles(stores.articles.get(SEED_ID)))
    server = ApiServer(create_app(settings), port=port).start()
    yield server.url, settings, stores
    server.stop()
    stores.close()


def check(driver: Any, where: str, *, axe: bool) -> list[str]:
    problems: list[str] = []
    for width in browser.WIDTHS:
        browser.set_width(driver, width)
        problems += browser.layout(driver).problems(f"{where} at {width} px")
        if axe and width in (375, 1280):
            problems += browser.axe_problems(driver, f"{where} at {width} px")
    return problems


def wait_for_text(driver: Any, element_id: str, texts: set[str]) -> None:
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.wait import WebDriverWait

    WebDriverWait(driver, 20, ignored_exceptions=(WebDriverException,)).until(
        lambda d: d.find_element(By.ID, element_id).text in texts)


def test_every_page_fits_every_width_and_passes_axe(
        driver: Any, site: tuple[str, Settings, Stores]) -> None:
    url, settings, stores = site
    tokens = make_tokens(settings)
    person, _ = stores.subscribers.sign_up(
        SignUp("leyla@example.org", "Leyla", Preferences(("politics",), "Asia/Baku", 7)),
        resend_after=timedelta(0))
    refuse = tokens.make(Purpose.REFUSE_SHARES, "vuqar@example.org")
    pages = {
        "front page": "/",
        "article": f"/articles/{SEED_ID}",
        "sign-up sent": f"/subscribed?article={SEED_ID}",
        "confirmed": f"/confirm/{tokens.make(Purpose.CONFIRM, person.id)}",
        "preferences": f"/preferences/{tokens.make(Purpose.PREFERENCES, person.id)}",
        "unsubscribe": f"/unsubscribe/{tokens.make(Purpose.UNSUBSCRIBE, person.id)}",
        "share block": f"/refuse-shares/{refuse}",
        "manage my subscriptions": "/manage",
        "manage link sent": "/manage/sent",
        "digest web version": "/digest/2020-10-28?zone=Asia/Baku",
        "not found": "/no/such/page",
        "bad link": "/confirm/forged",
    }
    problems: list[str] = []
    for name, path in pages.items():
        driver.get(url + path)
        assert driver.title, f"{name} has a title"
        problems += check(driver, name, axe=True)
    # The ops page, behind the API key (Basic auth), once its script has its figures.
    driver.get(url.replace("http://", "http://ops:browser-key@") + "/ops")
    wait_for_text(driver, "verdict", {"healthy", "degraded"})
    problems += check(driver, "ops page", axe=True)
    # Pages that answer a form: the form's errors, and what follows a post.
    browser.set_width(driver, 1280)
    driver.get(f"{url}/articles/{SEED_ID}")
    browser.submit(driver, "share", {"sender_name": "", "friend_email": "nope"})
    problems += check(driver, "share form with errors", axe=True)
    driver.get(f"{url}/articles/{SEED_ID}")
    browser.submit(driver, "signup", {"email": "leyla@"})
    problems += check(driver, "sign-up form with errors", axe=True)
    driver.get(url + pages["manage my subscriptions"])
    browser.submit(driver, "manage", {"email": "leyla@"})
    problems += check(driver, "manage form with errors", axe=True)
    driver.get(url + pages["preferences"])
    browser.submit(driver, "preferences", {"timezone": "Atlantis"})
    problems += check(driver, "preferences with errors", axe=True)
    driver.get(url + pages["share block"])
    browser.submit(driver, "refuse", {})
    problems += check(driver, "share block done", axe=True)
    driver.get(url + pages["unsubscribe"])
    browser.submit(driver, "unsubscribe", {})
    problems += check(driver, "unsubscribed", axe=True)
    assert not problems, "\n".join(problems)


def test_every_email_fits_every_width(driver: Any, site: tuple[str, Settings, Stores],
                                      tmp_path: Path) -> None:
    _, settings, stores = site
    emails = sample_emails(settings, stores)
    assert set(emails) == set(EMAILS)
    problems: list[str] = []
    for name, html in emails.items():
        page = tmp_path / f"{name}.html"
        page.write_text(html, encoding="utf-8")
        driver.get(page.as_uri())
        problems += check(driver, f"{name} e-mail", axe=False)
        # The designed dark palette, for the clients that honour prefers-color-scheme:
        # it must read as well as the light one (axe's contrast rules, among others).
        for scheme in ("light", "dark"):
            driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {
                "features": [{"name": "prefers-color-scheme", "value": scheme}]})
            browser.set_width(driver, 375)
            problems += browser.axe_problems(driver, f"{name} e-mail, {scheme}")
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
    assert not problems, "\n".join(problems)


def test_the_share_form_as_a_reader_meets_it(driver: Any,
                                              site: tuple[str, Settings, Stores]) -> None:
    from selenium.webdriver.common.by import By

    url, _, stores = site
    browser.set_width(driver, 375)
    driver.get(f"{url}/articles/{SEED_ID}")
    good = {"sender_name": "Aysel", "sender_email": "aysel@example.com",
            "friend_name": "Vüqar", "friend_email": "vuqar@example",
            "message": "Worth reading"}
    browser.submit(driver, "share", good)
    assert driver.title.startswith("Error: ")
    assert driver.current_url.endswith("/share")
    focused = driver.switch_to.active_element
    assert "error-summary" in (focused.get_attribute("class") or ""), \
        "the error summary takes the focus, so the reader is taken to it"
    assert focused.is_displayed() and focused.location["y"] >= 0
    friend = driver.find_element(By.ID, "friend_email")
    assert friend.get_attribute("aria-invalid") == "true"
    message = driver.find_element(By.ID, friend.get_attribute("aria-describedby"))
    assert re.match(r"Friend's e-mail .+\.$|.+\.$", message.text), message.text
    assert driver.find_element(By.ID, "sender_name").get_attribute("value") == "Aysel"
    assert driver.find_element(By.ID, "message").get_attribute("value") == "Worth reading"
    focused.find_element(By.CSS_SELECTOR, 'a[href="#friend_email"]').click()
    assert driver.switch_to.active_element.get_attribute("id") == "friend_email", \
        "the summary's link takes the reader to the field"
    browser.submit(driver, "share", {"friend_email": "vuqar@example.org"})
    assert re.search(r"/shared/\w+$", driver.current_url), driver.current_url
    assert "is on its way" in driver.page_source
    for _ in range(3):
        driver.refresh()
        assert "is on its way" in driver.page_source
    driver.get(f"{url}/articles/{SEED_ID}")
    browser.submit(driver, "share", good | {"friend_email": "vuqar@example.org"})
    assert "nothing new was sent" in driver.page_source, "the first e-mail stands"
    assert sum(stores.ledger.kind_counts(Kind.SHARE).values()) == 1, \
        "one e-mail, whatever the refreshes and the second send"


def test_the_checks_see_what_they_look_for(driver: Any, tmp_path: Path) -> None:
    """A page that is too wide, has small text and an image without alt text fails
    every check: the empty lists above are findings, not a harness that looks away."""
    page = tmp_path / "bad.html"
    page.write_text('<!DOCTYPE html><html lang="en"><head><title>bad</title></head><body>'
                    '<div style="width:700px">wide</div><p style="font-size:11px">small</p>'
                    '<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">'
                    '<p style="color:#bbb;background:#fff">faint</p></body></html>')
    driver.get(page.as_uri())
    problems = check(driver, "bad page", axe=True)
    assert any("scrolls sideways (708 px of content in 600)" in p for p in problems), problems
    assert any("11px <p> \"small\"" in p for p in problems), problems
    assert any("axe critical image-alt" in p for p in problems), problems
    assert any("axe serious color-contrast" in p for p in problems), problems


def test_the_ops_page_shows_what_comes_back(driver: Any,
                                            site: tuple[str, Settings, Stores]) -> None:
    """The "Coming back" cards with figures in them (a long domain name among them)
    fit every width and pass axe, as the rest of the page does."""
    from mailer.delivery.ledger import JobStatus
    from mailer.inbound.feedback import FeedbackEvent

    url, _, stores = site
    stores.ledger.create("s1", kind="digest", recipient="a@example.org", reference="e")
    stores.ledger.mark("s1", JobStatus.SENT, "250 ok")
    domain = "mail.a-very-long-recipient-domain-name.example.org"
    stores.feedback.record(
        [FeedbackEvent("bounce", "ours", "suppressed", address="a@example.org",
                       kind="digest", message_id="s1"),
         FeedbackEvent("bounce", "ours", "blames-us", address=f"b@{domain}", kind="digest"),
         FeedbackEvent("bounce", "forged", "untrusted", address="c@example.org")])
    driver.get(url.replace("http://", "http://ops:browser-key@") + "/ops")
    wait_for_text(driver, "verdict", {"healthy", "degraded"})
    text = driver.find_element("id", "refusals").text
    assert domain in text, text
    assert "1 (100.00%)" in driver.find_element("id", "returns").text
    assert "forged" in driver.find_element("id", "untrusted").text
    problems = check(driver, "ops page, coming back", axe=True)
    assert not problems, "\n".join(problems)


def test_the_ops_page_shows_newsletters_and_the_alert_in_flight(
        driver: Any, site: tuple[str, Settings, Stores]) -> None:
    """The newsletters with their readers, and an alert published through the real
    planner with two of its three readers reached: its row, progress bar and times fit
    every width and pass axe."""
    from mailer.models import utcnow
    from tests.ops.test_newsroom import STORY, deliver, noon_zone, publish, reader

    url, settings, stores = site
    stores.articles.put_many([STORY])
    published = utcnow().replace(microsecond=0) - timedelta(seconds=20)
    for i in range(3):
        reader(stores, f"r{i}@example.org", noon_zone(published), ("breaking", ("politics",)))
    run = publish(stores, settings, published)
    deliver(stores, run, 2, published + timedelta(seconds=1.5))
    driver.get(url.replace("http://", "http://ops:browser-key@") + "/ops")
    wait_for_text(driver, "verdict", {"healthy", "degraded"})
    alerts = driver.find_element("id", "alerts").text
    assert STORY.id in alerts and "1.5 s" in alerts, alerts
    assert driver.find_element("css selector", "#alerts progress").get_attribute("value") == "2"
    newsletters = driver.find_element("id", "newsletters").text
    assert "Breaking news immediate 3" in newsletters, newsletters
    assert "weekly, Sunday" in newsletters, newsletters
    problems = check(driver, "ops page, alerts", axe=True)
    assert not problems, "\n".join(problems)


def test_the_note_counts_its_characters_and_cuts_nothing(
        driver: Any, site: tuple[str, Settings, Stores]) -> None:
    """GOV.UK's character count: a pasted note longer than 500 is kept whole, the count
    says by how much, and the server's message says why it was not sent."""
    from selenium.webdriver.common.by import By

    url, _, _ = site
    browser.set_width(driver, 375)
    driver.get(f"{url}/articles/{SEED_ID}")
    count = driver.find_element(By.ID, "message-count")
    assert count.text == "You have 500 characters remaining"
    driver.find_element(By.ID, "message").send_keys("x" * 510)
    assert count.text == "You have 10 characters too many"
    browser.submit(driver, "share", {"sender_name": "Aysel",
                                     "sender_email": "aysel@example.com",
                                     "friend_name": "Vüqar",
                                     "friend_email": "vuqar@example.org"})
    assert len(driver.find_element(By.ID, "message").get_attribute("value")) == 510
    assert "longer than 500 characters" in driver.find_element(By.ID, "message-error").text


# The empty width at the end of each row of /ops's cards but the last, in CSS pixels.
_ROW_GAPS = """
const main = document.querySelector("main").getBoundingClientRect();
const pad = parseFloat(getComputedStyle(document.querySelector("main")).paddingRight);
const rows = new Map();
for (const section of document.querySelectorAll("main > section")) {
  const box = section.getBoundingClientRect();
  const top = Math.round(box.top + window.scrollY);
  rows.set(top, Math.max(rows.get(top) || 0, box.right));
}
const tops = [...rows.keys()].sort((a, b) => a - b);
return tops.slice(0, -1).map((top) => [top, Math.round(main.right - pad - rows.get(top))]);
"""


@pytest.mark.parametrize("postal_address", ["", "28 May Street 5, Baku"])
def test_the_ops_page_fills_its_rows_and_shows_its_notes(
        driver: Any, make_settings: Callable[..., Settings], postal_address: str) -> None:
    """No card leaves the rest of its row empty (the outcomes card once sat alone, two
    thirds of the row blank) at any width where cards share a row; and what `mailer
    status` notes (here an empty postal address) is on the page too, not failing it."""
    port = free_port()
    settings = make_settings(public_url=f"http://127.0.0.1:{port}",
                             api_key=SecretStr("browser-key"), postal_address=postal_address)
    server = ApiServer(create_app(settings), port=port).start()
    try:
        driver.get(server.url.replace("http://", "http://ops:browser-key@") + "/ops")
        wait_for_text(driver, "verdict", {"healthy", "degraded"})
        problems = driver.find_element("id", "problems").text
        assert ("note: MAILER_POSTAL_ADDRESS is empty" in problems) == (not postal_address), \
            problems
        for width in (800, 1280, 1600):
            browser.set_width(driver, width)
            gaps = driver.execute_script(_ROW_GAPS)
            assert len(gaps) >= 4, (width, gaps)
            # Cards are 340 px at least: less than that left over is the grid's rounding.
            assert all(gap < 340 for _, gap in gaps), (width, gaps)
        found = check(driver, "ops page with a note", axe=True)
        assert not found, "\n".join(found)
    finally:
        server.stop()
