"""A host screen and three player pages play a whole quiz in real Chromium.

Against a real node over real sockets: the host creates the quiz from a definition and
runs it; Ann answers right, Ben wrong and Cai not at all; each sees its own
``answer_result``; the reveal marks the correct choice and counts the answers; the
leaderboard moves; Ann's page is reloaded mid-quiz and resumes with its score; the
podium shows the order the server computed.  A screenshot of each screen is saved in
the test's output folder (``screenshots`` fixture) to be looked at.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest

from tests.browser.browserkit import (
    BIG_SCREEN,
    DEFINITION,
    PHONE,
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

pytestmark = [pytest.mark.e2e, needs_chromium]

CORRECT = [1, 2, 0]


def results(http_url: str, quiz_id: str, token: str) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{http_url}/api/quizzes/{quiz_id}/results", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def test_a_host_and_three_players_play_a_whole_quiz(node_factory, chromium, screenshots):
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
    node = node_factory(definitions={"browser-quiz": DEFINITION})
    browser = Browser(chromium)
    shots = Screens(screenshots)

    # The host creates the quiz from its definition, with the admin token typed in.
    host = browser.open(f"{node.http_url}/host", BIG_SCREEN, "host")
    on_screen(host, "setup")
    shots.shoot(host, "host-setup")
    quiz_id = create_quiz_on_host_screen(host, node.token)
    assert quiz_id
    # The admin token was typed in: it lives in the tab's memory and nowhere a page keeps things.
    kept = host.evaluate(
        "() => JSON.stringify([{...sessionStorage}, {...localStorage}, location.href, "
        "document.cookie, document.documentElement.outerHTML])"
    )
    assert node.token not in kept
    join_link = host.locator("#join-link").get_attribute("href")
    assert join_link == f"{node.http_url}/play?quiz={quiz_id}"
    expect(host.locator("#join-qr")).to_have_js_property("complete", True)
    assert host.locator("#join-qr").evaluate("img => img.naturalWidth") > 0, "the QR code did not load"

    # Three players join through the link.
    players: dict[str, Any] = {}
    for name in ("Ann", "Ben", "Cai"):
        page = browser.open(join_link, PHONE, name)
        on_screen(page, "join")
        expect(page.locator("#quiz-id")).to_have_value(quiz_id)
        page.fill("#name", name)
        if name == "Ann":
            shots.shoot(page, "player-join")
        page.click("#join-button")
        on_screen(page, "lobby")
        players[name] = page
    ann, ben, cai = players["Ann"], players["Ben"], players["Cai"]

    # A fourth joins and is kicked from the host screen: its page says so and stays put.
    dee = join_as(browser, node, quiz_id, "Dee")
    on_screen(dee, "lobby")
    expect(host.locator("#player-count")).to_have_text("4")
    dee_row = host.locator("#player-list li", has_text="Dee")
    dee_row.locator("button.kick").click()
    if host.locator("#player-list button.kick-confirm").count():  # an inline confirmation
        host.locator("#player-list button.kick-confirm").click()
    on_screen(dee, "closed")
    shots.shoot(dee, "player-kicked")
    expect(ann.locator("#player-count")).to_have_text("3")
    shots.shoot(cai, "player-lobby")
    expect(host.locator("#player-count")).to_have_text("3")
    expect(host.locator("#player-list li")).to_have_count(3)
    shots.shoot(host, "host-lobby")

    # Start: a countdown, then question 1.
    host.click("#start")
    on_screen(ann, "starting")
    shots.shoot(host, "host-starting")
    for page in players.values():
        on_screen(page, "question")
    expect(cai.locator("#question-number")).to_have_text("Question 1 of 3")
    expect(cai.locator("#question-text")).to_have_text("Pick the synonym of 'rapid'")
    assert cai.evaluate("document.activeElement.dataset.choice") == "0", "focus goes to the first choice"
    shots.shoot(cai, "player-question")

    # Ann right, Ben wrong, Cai silent: each sees its own answer_result at once.
    answer(ann, CORRECT[0])
    answer(ben, CORRECT[0] + 1)
    expect(ann.locator("#answer-result")).to_have_attribute("data-correct", "true")
    expect(ben.locator("#answer-result")).to_have_attribute("data-correct", "false")
    ann_points = int(text_of(ann, "#result-points").lstrip("+"))
    assert ann_points > 500
    expect(ann.locator("#result-score")).to_have_text(str(ann_points))
    expect(ben.locator("#result-points")).to_have_text("+0")
    expect(ann.locator("#my-score")).to_have_text(str(ann_points))
    shots.shoot(ann, "player-answered-right")
    shots.shoot(ben, "player-answered-wrong")
    expect(host.locator("#answered-count")).to_have_attribute("data-answered", "2")
    shots.shoot(host, "host-question")

    # The host closes the question: the reveal and the leaderboard reach everyone.
    host.click("#next")
    for page in (host, ann, ben, cai):
        on_screen(page, "reveal")
    for page in (host, cai):
        expect(page.locator(f'#choices .choice[data-choice="{CORRECT[0]}"]')).to_have_attribute("data-correct", "true")
        expect(page.locator(f'#distribution [data-choice="{CORRECT[0]}"]')).to_have_attribute("data-count", "1")
        expect(page.locator(f'#distribution [data-choice="{CORRECT[0] + 1}"]')).to_have_attribute("data-count", "1")
        expect(page.locator('#distribution [data-choice="3"]')).to_have_attribute("data-count", "0")
        expect(page.locator("#leaderboard li").first.locator(".name")).to_contain_text("Ann")
        expect(page.locator("#leaderboard li").first.locator(".score")).to_have_text(str(ann_points))
    expect(ann.locator("#leaderboard li.you .name")).to_contain_text("Ann")
    expect(cai.locator("#my-score")).to_have_text("0")
    shots.shoot(ann, "player-reveal")
    shots.shoot(host, "host-reveal")

    # Question 2: Ann's page is reloaded mid-question and resumes with its score.
    host.click("#next")
    for page in players.values():
        on_screen(page, "question")
    expect(ann.locator("#question-number")).to_have_text("Question 2 of 3")
    ann.reload()
    on_screen(ann, "question")
    expect(ann.locator("#question-number")).to_have_text("Question 2 of 3")
    expect(ann.locator("#my-score")).to_have_text(str(ann_points))
    shots.shoot(ann, "player-resumed-after-reload")
    answer(ann, CORRECT[1])
    answer(ben, CORRECT[1])
    answer(cai, (CORRECT[1] + 1) % 4)
    expect(ann.locator("#answer-result")).to_have_attribute("data-correct", "true")
    expect(cai.locator("#answer-result")).to_have_attribute("data-correct", "false")
    assert int(text_of(ann, "#result-score")) > ann_points
    expect(host.locator("#answered-count")).to_have_attribute("data-answered", "3")
    host.click("#next")
    on_screen(ann, "reveal")

    # Question 3: everyone right.
    host.click("#next")
    for page in players.values():
        on_screen(page, "question")
    for page in players.values():
        answer(page, CORRECT[2])
    for page in players.values():
        expect(page.locator("#answer-result")).to_have_attribute("data-correct", "true")
    host.click("#next")
    on_screen(host, "reveal")

    # From the last reveal, Next ends the quiz: final standings and the podium.
    host.click("#next")
    for page in (host, ann, ben, cai):
        on_screen(page, "ended")
    final = results(node.http_url, quiz_id, node.token)["leaderboard"]
    assert [entry["name"] for entry in final] == ["Ann", "Ben", "Cai"]
    for place, entry in enumerate(final, start=1):
        podium = host.locator(f'#podium li[data-place="{place}"]')
        expect(podium.locator(".name")).to_have_text(entry["name"])
        expect(podium.locator(".score")).to_have_text(str(entry["score"]))
        expect(players[entry["name"]].locator("#final-rank")).to_contain_text(f"#{place}")
    expect(ann.locator("#final-standings li")).to_have_count(3)
    shots.shoot(host, "host-podium")
    shots.shoot(ben, "player-final")

    assert browser.errors == []
