"""The preference centre and the welcome on real parts: uvicorn serving the API, a real
`celery worker`, Redis and the recording SMTP server; and the same as a reader meets
it in Chromium (Debian's, under WebDriver) at phone and desktop width, with axe."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from mailer import services
from mailer.config import Settings
from mailer.delivery.ledger import JobStatus, Kind
from mailer.stores import Stores
from mailer.subscriptions.model import SubscriberStatus
from mailer.subscriptions.notices import MANAGE_ACCEPTED
from tests.e2e.test_subscribe_flow import link_in, wait_for_mail
from tests.support import browser
from tests.support.smtp import RecordingHandler


@pytest.fixture
def stores(e2e_settings: Settings) -> Iterator[Stores]:
    with services.stores(e2e_settings, seed=False) as opened:
        yield opened


def wait_for_kind(stores: Stores, kind: str, status: JobStatus, count: int,
                  timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while stores.ledger.kind_counts(kind).get(status, 0) < count:
        assert time.monotonic() < deadline, stores.ledger.kind_counts(kind)
        time.sleep(0.05)


def confirmed_reader(api: httpx.Client, smtp: RecordingHandler, email: str) -> None:
    form = {"email": email, "name": "Leyla", "sections": ["politics", "world"],
            "timezone": "Asia/Baku", "hour": 7}
    assert api.post("/subscribe", json=form).status_code == 202
    [confirmation] = wait_for_mail(smtp, email, 1)
    link = link_in(confirmation, "confirm")
    assert [api.get(link).status_code for _ in range(2)] == [200, 200]


def test_welcome_once_then_a_manage_link_that_works(
        api: httpx.Client, stores: Stores, smtp_handler: RecordingHandler) -> None:
    reader = "welcome-reader@example.com"
    welcomes_before = stores.ledger.kind_counts(Kind.WELCOME).get(JobStatus.SENT, 0)
    confirmed_reader(api, smtp_handler, reader)
    _, welcome = wait_for_mail(smtp_handler, reader, 2)
    assert welcome.message["Subject"] == "Welcome to TODAY.AZ: your subscription is confirmed"
    text = " ".join(welcome.message.get_body(("plain",)).get_content().split())  # type: ignore[union-attr]
    assert "Daily digest, every day at 07:00, Baku time: Politics, World" in text, text
    assert "Your hour: 07:00 (7 in the morning), Baku time (Asia/Baku)" in text, text
    assert api.get(link_in(welcome, "preferences")).status_code == 200
    assert api.get(link_in(welcome, "unsubscribe")).status_code == 200

    nobody = "no-subscription@example.com"
    skipped_before = stores.ledger.kind_counts(Kind.MANAGE).get(JobStatus.SKIPPED, 0)
    answers = {(r.status_code, r.text) for r in
               (api.post("/manage", json={"email": a}) for a in (reader, nobody))}
    assert len(answers) == 1 and MANAGE_ACCEPTED in answers.pop()[1]
    _, _, manage = wait_for_mail(smtp_handler, reader, 3)
    assert manage.message["Subject"] == "Your link to change your TODAY.AZ subscriptions"
    wait_for_kind(stores, Kind.MANAGE, JobStatus.SKIPPED, skipped_before + 1)
    assert smtp_handler.for_recipient(nobody) == [], "an unknown address gets nothing"

    link = link_in(manage, "preferences")
    assert api.get(link).status_code == 200
    saved = api.post(link, data={"sections": ["economy"], "hour": "8",
                                 "timezone": "Europe/Paris"})
    assert saved.status_code == 303
    found = stores.subscribers.find(reader)
    assert found is not None
    assert (found.preferences.sections, found.preferences.timezone, found.preferences.hour) \
        == (("economy",), "Europe/Paris", 8)
    time.sleep(1)  # a second welcome, if one were coming, has had time to arrive
    assert len(smtp_handler.for_recipient(reader)) == 3, "one welcome, two clicks"
    assert stores.ledger.kind_counts(Kind.WELCOME)[JobStatus.SENT] == welcomes_before + 1


needs_browser = pytest.mark.skipif(browser.missing() is not None,
                                   reason=browser.missing() or "")


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with browser.chromium(tmp_path_factory.mktemp("chromium")) as chromium:
        yield chromium


def checked(driver: Any, where: str, width: int) -> list[str]:
    browser.set_width(driver, width)
    return browser.layout(driver).problems(f"{where} at {width} px") + \
        browser.axe_problems(driver, f"{where} at {width} px")


@needs_browser
@pytest.mark.timeout(300)
@pytest.mark.parametrize("width", [375, 1280])
def test_a_reader_manages_their_subscription_from_the_site(
        driver: Any, api: httpx.Client, stores: Stores, smtp_handler: RecordingHandler,
        width: int) -> None:
    from selenium.webdriver.common.by import By

    site = str(api.base_url).rstrip("/")
    reader, nobody = f"browser-{width}@example.com", f"nobody-{width}@example.com"
    confirmed_reader(api, smtp_handler, reader)
    wait_for_mail(smtp_handler, reader, 2)  # the confirmation and the welcome
    problems: list[str] = []
    driver.get(f"{site}/")
    browser.set_width(driver, width)
    driver.find_element(By.CSS_SELECTOR, 'footer a[href="/manage"]').click()
    assert driver.title.startswith("Manage my subscriptions"), driver.title
    problems += checked(driver, "manage form", width)
    browser.submit(driver, "manage", {"email": "leyla@"})
    assert driver.title.startswith("Error: ")
    focused = driver.switch_to.active_element
    assert "error-summary" in (focused.get_attribute("class") or "")
    problems += checked(driver, "manage form with an error", width)
    browser.submit(driver, "manage", {"email": nobody})
    unknown_page = driver.find_element(By.TAG_NAME, "main").text
    driver.get(f"{site}/manage")
    browser.submit(driver, "manage", {"email": reader.upper()})
    assert driver.current_url.endswith("/manage/sent")
    assert driver.find_element(By.TAG_NAME, "main").text == unknown_page, \
        "the same page whether or not the address is subscribed"
    problems += checked(driver, "manage link sent", width)
    manage = wait_for_mail(smtp_handler, reader, 3)[2]
    assert manage.message["Subject"] == "Your link to change your TODAY.AZ subscriptions"

    driver.get(site + link_in(manage, "preferences"))
    assert driver.title.startswith("Newsletter preferences")
    problems += checked(driver, "preferences from a manage link", width)
    daily = driver.find_element(By.ID, "sections")  # the daily digest's sections
    daily.find_element(By.CSS_SELECTOR, 'input[value="politics"]').click()  # untick
    daily.find_element(By.CSS_SELECTOR, 'input[value="culture"]').click()
    from selenium.webdriver.support.select import Select

    Select(driver.find_element(By.ID, "hour")).select_by_value("9")
    browser.submit(driver, "preferences", {"timezone": "London"})
    assert "preferences are saved" in driver.page_source
    problems += checked(driver, "preferences saved", width)
    found = stores.subscribers.find(reader)
    assert found is not None and found.status is SubscriberStatus.ACTIVE
    chosen = found.preferences
    assert (chosen.sections, chosen.timezone, chosen.hour) == (("culture", "world"),
                                                               "Europe/London", 9)
    assert smtp_handler.for_recipient(nobody) == [], "no link for an unknown address"
    assert not problems, "\n".join(problems)
