"""Pages that lose their connection come back by themselves, with their place.

The browsers reach the node's WebSocket through a TCP proxy the test controls (the
node's ``public_url`` points at it, and ``/web/config.json`` passes that on).  Cutting
the proxy resets every connection and refuses new ones for a while, as a dead Wi-Fi
would: the pages retry with backoff, and once the link is back they resume with their
tokens: the player keeps its score and its answer, and the host keeps running the quiz.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import attrs
import pytest

from tests.browser.browserkit import (
    BIG_SCREEN,
    DEFINITION,
    WAIT_MS,
    Browser,
    Screens,
    answer,
    create_quiz_on_host_screen,
    join_as,
    needs_chromium,
    on_screen,
    text_of,
)
from tests.tcp_proxy import ProxyThread

pytestmark = [pytest.mark.e2e, needs_chromium]

# Waiting out the backoff, or trying again: either says the page knows the link is gone.
RECONNECTING = re.compile(r"^(retrying|connecting)$")


@attrs.define
class Scene:
    """A node whose WebSocket the browsers reach through ``proxy``; a host screen and
    Ann, who has just answered question 1 right (worth ``score``)."""

    proxy: ProxyThread
    browser: Browser
    host: Any
    ann: Any
    score: str


@contextmanager
def ann_answered_behind_a_proxy(node_factory: Any, chromium: Any) -> Iterator[Scene]:
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
    with ProxyThread() as proxy:
        node = node_factory(definitions={"browser-quiz": DEFINITION}, websocket={"public_url": proxy.ws_url})
        proxy.retarget(int(node.ws_address.rsplit(":", 1)[1]))
        browser = Browser(chromium)
        host = browser.open(f"{node.http_url}/host", BIG_SCREEN, "host")
        quiz_id = create_quiz_on_host_screen(host, node.token)
        ann = join_as(browser, node, quiz_id, "Ann")
        on_screen(ann, "lobby")
        host.click("#start")
        on_screen(ann, "question")
        answer(ann, 1)
        expect(ann.locator("#answer-result")).to_have_attribute("data-correct", "true")
        scene = Scene(proxy, browser, host, ann, text_of(ann, "#my-score"))
        yield scene
        assert [e for e in browser.errors if not _connection_noise(e)] == []


def test_a_player_and_the_host_resume_after_their_connections_drop(node_factory, chromium, screenshots):
    from playwright.sync_api import expect

    shots = Screens(screenshots)
    with ann_answered_behind_a_proxy(node_factory, chromium) as scene:
        proxy, host, ann = scene.proxy, scene.host, scene.ann
        accepted = proxy.accepted

        # The link dies and stays dead for a while: both pages say they are reconnecting.
        proxy.cut("reset")
        for page in (ann, host):
            expect(page.locator("#status")).to_have_attribute("data-state", RECONNECTING)
        shots.shoot(ann, "player-reconnecting")
        deadline = time.monotonic() + 10
        while proxy.accepted < accepted + 4 and time.monotonic() < deadline:
            time.sleep(0.1)  # each page tries again (and is refused) at least once
        assert proxy.accepted >= accepted + 4
        proxy.heal()

        # Back: the same player, with its score and its answer; the host runs on.
        expect(ann.locator("#status")).to_have_attribute("data-state", "joined")
        expect(host.locator("#status")).to_have_attribute("data-state", "joined")
        on_screen(ann, "question")
        expect(ann.locator("#my-score")).to_have_text(scene.score)
        ann.locator('body[data-answered="true"]').wait_for(state="attached")
        expect(ann.locator('#choices .choice[data-choice="1"]')).to_have_attribute("aria-pressed", "true")
        expect(host.locator("#player-count")).to_have_text("1")
        host.click("#next")
        on_screen(ann, "reveal")
        expect(ann.locator("#leaderboard li.you .score")).to_have_text(scene.score)
        shots.shoot(ann, "player-resumed-after-drop")


def test_a_link_that_dies_silently_is_noticed_and_resumed(node_factory, chromium):
    """No RST, no close: the packets just stop (a Wi-Fi that went away).  The page hears
    nothing for 10 s, sends a ping, gets no pong within 5 s, and reconnects; the attempts
    made while the link is still dead time out too, and once it is back the page resumes."""
    from playwright.sync_api import expect

    with ann_answered_behind_a_proxy(node_factory, chromium) as scene:
        proxy, host, ann = scene.proxy, scene.host, scene.ann
        proxy.cut("blackhole")
        # Silence for 10 s, then a ping that gets no answer for 5 s: the page knows.
        expect(ann.locator("#status")).to_have_attribute("data-state", RECONNECTING, timeout=25000)
        proxy.heal()
        expect(ann.locator("#status")).to_have_attribute("data-state", "joined", timeout=25000)
        on_screen(ann, "question")
        expect(ann.locator("#my-score")).to_have_text(scene.score)
        expect(host.locator("#status")).to_have_attribute("data-state", "joined", timeout=25000)
        host.click("#next")
        on_screen(ann, "reveal")


def _connection_noise(error: str) -> bool:
    """Chromium logs each refused WebSocket as a console error; those are the test's doing."""
    return "WebSocket connection to" in error
