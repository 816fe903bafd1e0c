"""Debian's Chromium driven through Debian's chromedriver with Selenium (nothing downloads
a browser), and the checks every page and e-mail must pass in it: no sideways scroll,
no text under 13 px, and (pages) no serious or critical axe-core violation."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
WIDTHS = (320, 375, 600, 1280)
MIN_FONT_PX = 13.0


def missing() -> str | None:
    """Why the browser suite cannot run here, or None."""
    if CHROMIUM is None:
        return "chromium is not installed (Debian package chromium; .ci/run installs it)"
    if CHROMEDRIVER is None:
        return ("chromedriver is not installed (Debian package chromium-driver; .ci/run "
                "installs it)")
    return None


@contextmanager
def chromium(profile: Path) -> Iterator[Any]:
    """A headless Chromium under WebDriver. The flags keep it off the network it cannot
    reach here (update checks, sync), which otherwise stalls start-up."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    assert CHROMIUM is not None and CHROMEDRIVER is not None
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                 "--disable-dev-shm-usage", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def set_width(driver: Any, width: int, height: int = 900) -> None:
    """The viewport exactly `width` CSS pixels wide, whatever the window's frame."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})


# Every visible text node's element: hidden preheaders, the off-screen honeypot and
# collapsed options are not text anyone reads.
_LAYOUT = """
const small = [];
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
while (walker.nextNode()) {
  const node = walker.currentNode;
  if (!node.textContent.replace(/[\\s\\u200b-\\u200d\\u00a0\\u034f]/g, "")) continue;
  const el = node.parentElement;
  const box = el.getBoundingClientRect();
  const style = getComputedStyle(el);
  if (box.width <= 1 || box.height <= 1 || style.visibility === "hidden"
      || parseFloat(style.opacity) === 0 || !el.getClientRects().length) continue;
  const size = parseFloat(style.fontSize);
  if (size < arguments[0]) small.push(`${size}px <${el.tagName.toLowerCase()}> `
                                      + JSON.stringify(node.textContent.trim().slice(0, 40)));
}
return {scroll: document.documentElement.scrollWidth, inner: window.innerWidth, small};
"""


@dataclass(frozen=True)
class Layout:
    scroll_width: int
    inner_width: int
    small_text: list[str]

    def problems(self, where: str) -> list[str]:
        found = []
        if self.scroll_width > self.inner_width:
            found.append(f"{where}: scrolls sideways ({self.scroll_width} px of content in "
                         f"{self.inner_width})")
        found += [f"{where}: text under {MIN_FONT_PX:g} px: {text}"
                  for text in self.small_text[:5]]
        return found


def layout(driver: Any) -> Layout:
    found = driver.execute_script(_LAYOUT, MIN_FONT_PX)
    return Layout(int(found["scroll"]), int(found["inner"]), list(found["small"]))


def axe_problems(driver: Any, where: str) -> list[str]:
    """Serious and critical axe-core violations on the loaded page, one line each."""
    from axe_core_python.selenium import Axe

    results = Axe().run(driver)
    return [f"{where}: axe {violation['impact']} {violation['id']}: {violation['help']} "
            f"({', '.join(str(node['target']) for node in violation['nodes'][:3])})"
            for violation in results["violations"]
            if violation["impact"] in {"serious", "critical"}]


def submit(driver: Any, form_id: str, values: dict[str, str]) -> None:
    """Fill and send a form, and wait for the page that answers it. The old page is
    marked, and the wait is for a complete page without the mark: asking about the
    old form's element instead races the navigation in chromedriver."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.wait import WebDriverWait

    form = driver.find_element(By.ID, form_id)
    for name, value in values.items():
        field = form.find_element(By.NAME, name)
        field.clear()
        field.send_keys(value)
    driver.execute_script("window.__submitted = true;")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()

    def answered(d: Any) -> bool:
        return bool(d.execute_script(
            "return !window.__submitted && document.readyState === 'complete';"))

    WebDriverWait(driver, 15, ignored_exceptions=(WebDriverException,)).until(answered)
