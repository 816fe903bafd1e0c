"""Screenshots of every e-mail at 375 and 600 px, and of the share and digest e-mails in
dark mode at 375 px, in Debian's Chromium, for the README:

    .venv/bin/python docs/screenshots.py     # writes docs/screenshots/<e-mail>-<width>.png

The e-mails are built by the code that sends them (tests/support/samples.py), on a
scratch SQLite database; the browser is driven as in the browser tests."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mailer import services  # noqa: E402
from mailer.config import load_settings  # noqa: E402
from mailer.db import make_engine, upgrade  # noqa: E402
from tests.support import browser  # noqa: E402
from tests.support.samples import sample_emails  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
WIDTHS = (375, 600)
DARK = ("share", "digest-many")  # also drawn with prefers-color-scheme: dark


def main() -> int:
    reason = browser.missing()
    if reason:
        print(f"error: {reason}", file=sys.stderr)
        return 3
    OUT.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        url = f"sqlite:///{scratch}/screenshots.db"
        upgrade(make_engine(url))
        settings = load_settings(database_url=url, public_url="https://newsletter.today.az",
                                 postal_address="28 May Street 5, Baku AZ1010, Azerbaijan",
                                 var_dir=Path(scratch))
        stores = services.stores(settings)
        emails = sample_emails(settings, stores)
        stores.close()
        with browser.chromium(Path(scratch, "profile")) as driver:
            for name, html in emails.items():
                page = Path(scratch, f"{name}.html")
                page.write_text(html, encoding="utf-8")
                driver.get(page.as_uri())
                shots = [(width, "light") for width in WIDTHS]
                shots += [(375, "dark")] if name in DARK else []
                for width, scheme in shots:
                    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {
                        "features": [{"name": "prefers-color-scheme", "value": scheme}]})
                    browser.set_width(driver, width)
                    height = driver.execute_script(
                        "return document.documentElement.scrollHeight")
                    browser.set_width(driver, width, int(height))
                    suffix = "-dark" if scheme == "dark" else ""
                    shot = OUT / f"{name}-{width}{suffix}.png"
                    driver.save_screenshot(str(shot))
                    print(shot.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
