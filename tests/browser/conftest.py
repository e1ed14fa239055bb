"""Real Chromium (Debian's, at /usr/bin/chromium) driven by Playwright.

Playwright never downloads a browser here: it launches the system one through
``executable_path``.  scripts/test installs the Debian package when it is missing; in CI
a missing browser fails the tests instead of skipping them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.browserkit import CHROMIUM, CHROMIUM_ARGS


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """One browser per module; each page gets its own context (own sessionStorage)."""
    from playwright.sync_api import sync_playwright

    assert CHROMIUM is not None, "chromium is missing: run scripts/test, which installs it"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    """Where the test saves a picture of each screen: the test's output folder, or
    ``$QUIZD_SCREENSHOTS`` when set (that is how docs/img/ was made)."""
    folder = Path(os.environ.get("QUIZD_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder
