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
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import needs_chromium

pytestmark = [pytest.mark.e2e, needs_chromium]

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
CORRECT = [1, 2, 0]
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
    (a CSP violation shows up as a console error)."""

    def __init__(self, chromium: Any) -> None:
        self.chromium = chromium
        self.errors: list[str] = []

    def open(self, url: str, viewport: dict[str, int], label: str) -> Any:
        page = self.chromium.new_context(viewport=viewport).new_page()
        page.set_default_timeout(WAIT_MS)
        page.on("console", lambda m: m.type == "error" and self.errors.append(f"{label}: {m.text}"))
        page.on("pageerror", lambda e: self.errors.append(f"{label}: {e}"))
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


def results(http_url: str, quiz_id: str, token: str) -> dict[str, Any]:
    request = urllib.request.Request(f"{http_url}/api/quizzes/{quiz_id}/results",
                                     headers={"Authorization": f"Bearer {token}"})
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
    kept = host.evaluate("() => JSON.stringify([{...sessionStorage}, {...localStorage}, location.href, "
                         "document.cookie, document.documentElement.outerHTML])")
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
