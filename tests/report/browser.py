"""Drive a Snakemake report (a single-page app) in headless Chromium through selenium."""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--window-size=1400,1000")
WAIT_S = 20


def require_chromium() -> tuple[str, str]:
    """Paths of Debian's chromium and chromedriver; skip (or fail with REQUIRE_BROWSER=1) without them."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if chromium and driver:
        return chromium, driver
    reason = "headless Chromium is missing: apt-get install chromium chromium-driver (or make system-deps)"
    if os.environ.get("REQUIRE_BROWSER") == "1":
        pytest.fail(reason + " [REQUIRE_BROWSER=1]")
    pytest.skip(reason)


@contextmanager
def headless_chromium() -> Iterator:
    """A fresh headless Chromium (its own profile directory), closed afterwards."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver_path = require_chromium()
    with tempfile.TemporaryDirectory(prefix="samderm-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = chromium
        for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(options=options, service=Service(driver_path))
        try:
            yield driver
        finally:
            driver.quit()


class ReportPage:
    """The report's navigation: (Results ->) category (-> subcategory) -> a result's view (eye) button.
    The menu lists the categories at the top level, or under "Results" when there is only one."""

    def __init__(self, driver, report_html: str | Path):
        self.driver = driver
        self.url = Path(report_html).resolve().as_uri()
        self.load()

    def load(self) -> None:
        self.driver.get(self.url)
        self.wait_for_link("Workflow")

    def wait_for_link(self, text: str):
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as ec
        from selenium.webdriver.support.ui import WebDriverWait

        return WebDriverWait(self.driver, WAIT_S).until(ec.element_to_be_clickable((By.LINK_TEXT, text)))

    def link_texts(self) -> list[str]:
        from selenium.webdriver.common.by import By

        return [a.text for a in self.driver.find_elements(By.TAG_NAME, "a") if a.is_displayed() and a.text]

    def open_category(self, category: str, subcategory: str | None = None) -> None:
        self.load()  # back to the top-level menu
        if "Results" in self.link_texts():
            self.wait_for_link("Results").click()
        else:
            self.wait_for_link(category).click()
        if subcategory:
            self.wait_for_link(subcategory).click()

    def view(self, label: str):
        """Click the view button of the result row whose first cell is ``label``; return the shown
        element (an ``img`` for figures, an ``iframe`` for HTML tables)."""
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        def row_button(driver):
            for row in driver.find_elements(By.TAG_NAME, "tr"):
                cells = row.find_elements(By.TAG_NAME, "td")
                if cells and cells[0].text == label:
                    return row.find_elements(By.TAG_NAME, "a")[0]  # the eye; the second is the info button
            return False

        WebDriverWait(self.driver, WAIT_S).until(row_button).click()

        def shown(driver):
            # the content pane (not the logo, which is a data: image too)
            for element in driver.find_elements(By.CSS_SELECTOR, "div.p-3 > img[src^='data:'], iframe[src^='data:']"):
                if element.is_displayed():
                    return element
            return False

        return WebDriverWait(self.driver, WAIT_S).until(shown)

    def image_size(self, img) -> tuple[int, int]:
        """The decoded size of a shown image (0 x 0 when the browser could not decode it)."""
        self.driver.execute_async_script(
            "const [img, done] = arguments; img.complete ? done() : img.addEventListener('load', () => done());", img)
        return tuple(self.driver.execute_script("return [arguments[0].naturalWidth, arguments[0].naturalHeight];", img))

    def iframe_text(self, iframe) -> str:
        self.driver.switch_to.frame(iframe)
        try:
            from selenium.webdriver.common.by import By

            return self.driver.find_element(By.TAG_NAME, "body").text
        finally:
            self.driver.switch_to.default_content()

    def severe_errors(self) -> list[dict]:
        """SEVERE entries of the browser console (JavaScript errors, failed loads)."""
        return [entry for entry in self.driver.get_log("browser") if entry["level"] == "SEVERE"]

    def screenshot(self, path: str | Path) -> Path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        assert self.driver.save_screenshot(str(path)), f"no screenshot written to {path}"
        return Path(path)
