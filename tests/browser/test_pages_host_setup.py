"""The host screen's way in: a wrong admin token, and opening a quiz by its host token.

Also a plain accessibility sweep of both pages' forms: every field has a label and every
button a name a screen reader can say.
"""

from __future__ import annotations

import pytest

from quizd.client import ControlClient
from tests.browser.browserkit import BIG_SCREEN, PHONE, UNNAMED, WAIT_MS, Browser, needs_chromium, on_screen, text_of

pytestmark = [pytest.mark.e2e, needs_chromium]

# Fields without a label and buttons without a name, as a screen reader would meet them.


def test_a_wrong_admin_token_is_said_plainly(node_factory, chromium):
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
    node = node_factory()
    browser = Browser(chromium)
    host = browser.open(f"{node.http_url}/host", BIG_SCREEN, "host")
    on_screen(host, "setup")
    assert host.evaluate(UNNAMED) == []
    host.fill("#admin-token", "not-the-token")
    host.click("#load-definitions")
    expect(host.locator("#setup-error")).to_contain_text("Wrong admin token")
    expect(host.locator("#create-quiz")).to_be_disabled()
    # The browser itself logs the 401 it was sent; nothing else may show up.
    assert [e for e in browser.errors if "401" not in e] == []


def test_a_quiz_is_opened_with_its_host_token(node_factory, chromium):
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
    node = node_factory()
    created = ControlClient(node.http_url, node.token).request_sync(
        "POST", "/api/quizzes", {"definitionId": "vocab-101", "quizId": "friday-class"}
    )[1]
    browser = Browser(chromium)
    host = browser.open(f"{node.http_url}/host", BIG_SCREEN, "host")

    host.fill("#open-quiz-id", "friday-class")
    host.fill("#open-host-token", "wrong-token")
    host.click("#open-quiz")
    on_screen(host, "setup")
    expect(host.locator("#setup-error")).to_contain_text("Wrong host token")

    host.fill("#open-quiz-id", "friday-class")
    host.fill("#open-host-token", created["hostToken"])
    host.click("#open-quiz")
    on_screen(host, "lobby")
    assert text_of(host, "#join-code") == "friday-class"
    expect(host.locator("#quiz-title")).to_have_text("Everyday English 1")
    # The host token stays folded away unless asked for (the screen may be projected).
    host.click("#close-screen")
    expect(host.locator("#close-host-token")).to_be_hidden()
    host.click("#close-no")

    player = browser.open(f"{node.http_url}/play", PHONE, "player")
    on_screen(player, "join")
    assert player.evaluate(UNNAMED) == []
    assert browser.errors == []
