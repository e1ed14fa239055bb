"""A kit for the browser tests: the system Chromium, its flags and the skip mark, and the
page helpers the tests share (a conftest only offers fixtures)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)


# Without the background-networking flags Chromium keeps dialling Google's hosts, which
# this machine's closed network refuses; --no-sandbox because CI runs as root.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


needs_chromium = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"),  # in CI a missing browser is a failure
    reason="chromium is not installed (Debian package chromium; scripts/test installs it "
    "via scripts/lib/test-tools.sh)",
)


DEFINITION = """\
id = "browser-quiz"
title = "Everyday English"
reveal = "on_answer"
time_limit_ms = 60000
reveal_ms = 600000            # the host moves on with Next
countdown_ms = 3000
points = 1000
streak_bonus = 100
allow_late_join = true

[[questions]]
text = "Pick the synonym of 'rapid'"
choices = ["slow", "quick", "late", "calm"]
answer = 1

[[questions]]
text = "Pick the antonym of 'generous'"
choices = ["kind", "wealthy", "stingy", "honest"]
answer = 2

[[questions]]
text = "Pick the synonym of 'begin'"
choices = ["start", "finish", "wait", "pause"]
answer = 0
"""


PHONE = {"width": 390, "height": 844}


BIG_SCREEN = {"width": 1280, "height": 720}


WAIT_MS = 15000


class Screens:
    """Saves numbered screenshots, so the folder reads in the order of the quiz."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0

    def shoot(self, page: Any, name: str) -> None:
        self.count += 1
        page.screenshot(path=str(self.folder / f"{self.count:02d}-{name}.png"), full_page=True)


class Browser:
    """Opens pages and keeps every console error and uncaught exception they raise
    (a CSP violation shows up as a console error); with ``http_errors`` also every
    response of 400 or more."""

    def __init__(self, chromium: Any, *, wait_ms: int = WAIT_MS, http_errors: bool = False) -> None:
        self.chromium = chromium
        self.wait_ms = wait_ms
        self.http_errors = http_errors
        self.errors: list[str] = []

    def open(self, url: str, viewport: dict[str, int], label: str) -> Any:
        page = self.chromium.new_context(viewport=viewport).new_page()
        page.set_default_timeout(self.wait_ms)
        page.on("console", lambda m: m.type == "error" and self.errors.append(f"{label}: {m.text}"))
        page.on("pageerror", lambda e: self.errors.append(f"{label}: {e}"))
        if self.http_errors:
            page.on("response", lambda r: r.status >= 400 and self.errors.append(f"{label}: {r.status} {r.url}"))
        page.goto(url)
        return page


def on_screen(page: Any, screen: str) -> None:
    page.locator(f'body[data-screen="{screen}"]').wait_for(state="attached")


def text_of(page: Any, selector: str) -> str:
    return page.locator(selector).inner_text().strip()


def answer(page: Any, choice: int) -> None:
    page.locator(f'#choices .choice[data-choice="{choice}"]').click()
    page.locator('body[data-answered="true"]').wait_for(state="attached")


def create_quiz_on_host_screen(host: Any, token: str) -> str:
    """Type the admin token, pick the test's definition, create; returns the quiz code."""
    host.fill("#admin-token", token)
    host.click("#load-definitions")
    host.locator('#definition option[value="browser-quiz"]').wait_for(state="attached")
    host.select_option("#definition", "browser-quiz")
    host.click("#create-quiz")
    on_screen(host, "lobby")
    return text_of(host, "#join-code")


def join_as(browser: Browser, node: Any, quiz_id: str, name: str) -> Any:
    """A phone opens the quiz's join link and joins as ``name`` (the caller waits for
    the screen it expects: the lobby, or a question for a late joiner)."""
    page = browser.open(f"{node.http_url}/play?quiz={quiz_id}", PHONE, name)
    page.fill("#name", name)
    page.click("#join-button")
    return page


# Every field without a label and every button without a name (should be none).
UNNAMED = """() => [
  ...[...document.querySelectorAll("input, select, textarea")]
     .filter((field) => field.labels.length === 0 && !field.getAttribute("aria-label"))
     .map((field) => `field #${field.id}`),
  ...[...document.querySelectorAll("button")]
     .filter((button) => !(button.getAttribute("aria-label") || button.textContent.trim()))
     .map((button) => `button #${button.id}`),
]"""
