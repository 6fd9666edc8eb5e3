"""A real headless Chromium (Debian's ``chromium`` with its ``chromium-driver``), driven by Selenium. Never a
downloaded browser: the system binaries, a fresh profile per session, no network of its own."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import REPO

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
ARTIFACTS = REPO / "test-artifacts"  # screenshots (git-ignored)
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1280,1000")

# Each element's rendered box and, for an <img>, its decoded size (0 when it failed to load).
IMAGE_SIZES = """
return Array.from(document.querySelectorAll(arguments[0])).map(e => {
  const box = e.getBoundingClientRect();
  return {tag: e.tagName.toLowerCase(), natural: e.naturalWidth === undefined ? null : e.naturalWidth,
          complete: e.complete === undefined ? true : e.complete, width: box.width, height: box.height,
          plot: e.dataset ? (e.dataset.plot || null) : null};
});
"""


@contextmanager
def chromium(profile_dir: Path) -> Iterator[object]:
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.fail("headless Chromium is needed: run `make test` as root, or apt-get install chromium chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile_dir}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(90)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile_dir, ignore_errors=True)


def console_errors(driver: object) -> list[dict]:
    """The page's console messages at level SEVERE (failed loads, script errors) since the last call."""
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def open_page(driver: object, url: str, name: str) -> list[dict]:
    """Load ``url``, save a full screenshot as an artifact, and return the console errors it caused."""
    driver.get_log("browser")  # start from an empty log
    driver.get(url)
    ARTIFACTS.mkdir(exist_ok=True)
    height = driver.execute_script("return document.body ? document.body.scrollHeight : 1000")
    driver.set_window_size(1280, min(max(int(height) + 50, 600), 8000))
    assert driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))
    assert (ARTIFACTS / f"{name}.png").stat().st_size > 1000
    return console_errors(driver)


def image_sizes(driver: object, selector: str = "img") -> list[dict]:
    return driver.execute_script(IMAGE_SIZES, selector)
