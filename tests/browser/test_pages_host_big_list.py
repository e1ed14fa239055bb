"""The host screen of a quiz too big for one message: it pages through the player list.

The host's ``joined`` holds the first 500 players; the screen asks for the rest with
``get_players``, one page after the other, and keeps the list whole meanwhile.
"""

from __future__ import annotations

import pytest
import trio

from quizd.client import ControlClient
from tests.browser.browserkit import BIG_SCREEN, WAIT_MS, Browser, needs_chromium, on_screen
from tests.e2e.clientkit import join_and_drop

pytestmark = [pytest.mark.e2e, needs_chromium]

PLAYERS = 1234


async def join_many(address: str, quiz_id: str, names: list[str]) -> None:
    for start in range(0, len(names), 100):
        async with trio.open_nursery() as nursery:
            for name in names[start : start + 100]:
                nursery.start_soon(join_and_drop, address, quiz_id, name)


def test_the_host_screen_lists_every_player_of_a_big_quiz(node_factory, chromium):
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
    node = node_factory()
    created = ControlClient(node.http_url, node.token).request_sync(
        "POST", "/api/quizzes", {"definitionId": "vocab-101", "quizId": "assembly"}
    )[1]
    trio.run(join_many, node.ws_address, "assembly", [f"Pupil {i}" for i in range(PLAYERS)])

    browser = Browser(chromium)
    host = browser.open(f"{node.http_url}/host", BIG_SCREEN, "host")
    host.fill("#open-quiz-id", "assembly")
    host.fill("#open-host-token", created["hostToken"])
    host.click("#open-quiz")
    on_screen(host, "lobby")
    expect(host.locator("#player-count")).to_have_text(str(PLAYERS))
    expect(host.locator("#player-list li")).to_have_count(PLAYERS)
    expect(host.locator('#player-list li[data-participant-id="p1234"]')).to_contain_text("Pupil ")
    # A player who joins now is added once, whether a page or player_joined brings it.
    trio.run(join_many, node.ws_address, "assembly", ["Latecomer"])
    expect(host.locator("#player-count")).to_have_text(str(PLAYERS + 1))
    expect(host.locator("#player-list li")).to_have_count(PLAYERS + 1)
    assert browser.errors == []
