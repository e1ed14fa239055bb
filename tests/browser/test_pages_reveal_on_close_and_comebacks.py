"""Reveal ``on_close``, a late joiner, and screens that come back at awkward moments.

With reveal ``on_close`` an answer is only "locked in" until the question closes; then
``question_closed``, the player's ``answer_result`` and a ``leaderboard`` arrive in that
order.  A player joins while a question is open.  The host screen is reloaded during the
countdown (it must still count down) and mid-question (it must show the answers counted
so far at once); a player is reloaded during a reveal (it must show the question and its
own result).  The host ends the quiz with End.
"""

from __future__ import annotations

import re

import pytest

from tests.browser.browserkit import (
    BIG_SCREEN,
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

DEFINITION = """\
id = "browser-quiz"
title = "Phrasal verbs"
reveal = "on_close"
time_limit_ms = 60000
reveal_ms = 600000
countdown_ms = 4000
allow_late_join = true

[[questions]]
text = "'Give up' means..."
choices = ["stop trying", "hand over a gift", "stand up"]
answer = 0

[[questions]]
text = "'Look after' means..."
choices = ["take care of", "search for", "admire"]
answer = 0
"""


def test_reveal_on_close_late_joiners_and_reloads(node_factory, chromium, screenshots):
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
    node = node_factory(definitions={"browser-quiz": DEFINITION})
    browser = Browser(chromium)
    shots = Screens(screenshots)

    host = browser.open(f"{node.http_url}/host", BIG_SCREEN, "host")
    quiz_id = create_quiz_on_host_screen(host, node.token)
    ann = join_as(browser, node, quiz_id, "Ann")
    on_screen(ann, "lobby")

    # Cy joins and leaves: once the server confirms, the page forgets its place.
    cy = join_as(browser, node, quiz_id, "Cy")
    on_screen(cy, "lobby")
    expect(host.locator("#player-count")).to_have_text("2")
    cy.click("#leave-button")
    on_screen(cy, "join")
    expect(cy.locator("#status")).to_have_text("You left the quiz.")
    assert cy.evaluate("() => sessionStorage.length") == 0
    expect(host.locator("#player-count")).to_have_text("1")

    # Reloaded during the countdown, the host screen still counts down (joined.serverTime).
    host.click("#start")
    on_screen(host, "starting")
    host.reload()
    on_screen(host, "starting")
    expect(host.locator("#starting-seconds")).to_have_text(re.compile(r"^[1-4]$"))
    shots.shoot(host, "host-starting-after-reload")

    # On close: the answer is locked in, and no verdict shows before the close.
    on_screen(ann, "question")
    answer(ann, 0)
    expect(ann.locator("#answer-note")).to_contain_text("locked in")
    expect(ann.locator("#answer-result")).to_be_hidden()
    shots.shoot(ann, "player-locked-in")

    # A late joiner lands straight in the open question.
    ben = join_as(browser, node, quiz_id, "Ben")
    on_screen(ben, "question")
    expect(ben.locator("#question-text")).to_have_text("'Give up' means...")
    # By keyboard alone: focus starts on the first choice; Tab, Tab, Enter picks the third.
    expect(ben.locator('#choices .choice[data-choice="0"]')).to_be_focused()
    ben.keyboard.press("Tab")
    ben.keyboard.press("Tab")
    ben.keyboard.press("Enter")
    ben.locator('body[data-answered="true"]').wait_for(state="attached")
    expect(ben.locator('#choices .choice[data-choice="2"]')).to_have_attribute("aria-pressed", "true")
    expect(ben.locator("#answer-area")).to_be_focused()

    # The host screen, reloaded mid-question, shows the answers so far at once.
    expect(host.locator("#answered-count")).to_have_attribute("data-answered", "2")
    host.reload()
    on_screen(host, "question")
    expect(host.locator("#answered-count")).to_have_attribute("data-answered", "2")
    expect(host.locator("#answered-count")).to_have_text("2 of 2 answered")

    # The close: question_closed, then each player's answer_result, then the leaderboard.
    host.click("#next")
    on_screen(ann, "reveal")
    expect(ann.locator("#answer-result")).to_have_attribute("data-correct", "true")
    expect(ben.locator("#answer-result")).to_have_attribute("data-correct", "false")
    expect(ann.locator('#choices .choice[data-choice="0"]')).to_have_attribute("data-correct", "true")
    expect(ann.locator("#leaderboard li").first.locator(".name")).to_contain_text("Ann")
    ann_score = text_of(ann, "#result-score")
    shots.shoot(ann, "player-reveal-on-close")

    # A player reloaded during the reveal sees the question and its own result again.
    ben.reload()
    on_screen(ben, "reveal")
    expect(ben.locator("#question-text")).to_have_text("'Give up' means...")
    expect(ben.locator('#choices .choice[data-choice="0"]')).to_contain_text("stop trying")
    expect(ben.locator("#answer-result")).to_have_attribute("data-correct", "false")
    expect(ben.locator('#distribution li[data-choice="2"]')).to_have_attribute("data-count", "1")
    shots.shoot(ben, "player-reveal-after-reload")

    # The host ends the quiz (End asks first): final standings everywhere.
    host.click("#end")
    host.click("#end-confirm")
    for page in (host, ann, ben):
        on_screen(page, "ended")
    expect(host.locator('#podium li[data-place="1"] .name')).to_have_text("Ann")
    expect(host.locator('#podium li[data-place="1"] .score')).to_have_text(ann_score)
    expect(ben.locator("#final-rank")).to_contain_text("#2")

    assert browser.errors == []
