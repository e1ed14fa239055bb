"""Every question kind on the pages, in real Chromium against a real node.

Two phones play the kinds sample (config/quizzes/kinds.toml: single, true_false,
multiple, type_answer, slider, poll, with ``leaderboard = "reveal"``): Mo with the mouse
on a 390 px phone, Kay with the keyboard alone (Tab, Enter, the arrow keys on the
slider) on a 360 px one that must never scroll sideways.  Each sees its verdict (right,
partly right with points, wrong, a poll's thanks) and its answer echoed; the host screen
shows each kind's reveal (bars with the right choices ticked, the typed answers, the
slider's histogram with the correct value and median) and the explanation, as the
phones do.  A second quiz keeps the question on the big screen only and its leaderboard
for the end: the phone shows letters and controls but no question text, and no rank.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.browser.browserkit import BIG_SCREEN, PHONE, Browser, Screens, needs_chromium, on_screen, text_of

pytestmark = [pytest.mark.e2e, needs_chromium]

NARROW_PHONE = {"width": 360, "height": 740}
WAIT_MS = 20000  # the machine is shared: generous waits
# The kinds sample (config/quizzes/kinds.toml), with every question closing once both
# phones answered and the host moving on with Next.
KINDS = (Path(__file__).parents[2] / "config" / "quizzes" / "kinds.toml").read_text(encoding="utf-8")
DEFINITION = KINDS.replace(
    "reveal_ms = 4000\ncountdown_ms = 3000\n",
    "reveal_ms = 600000\ncountdown_ms = 1000\nclose_when_all_answered = true\n",
    1,
)
assert DEFINITION != KINDS, "the kinds sample changed: adapt the test's timing"


def create_quiz(host: Any, token: str, definition_id: str) -> str:
    host.fill("#admin-token", token)
    host.click("#load-definitions")
    host.locator(f'#definition option[value="{definition_id}"]').wait_for(state="attached")
    host.select_option("#definition", definition_id)
    host.click("#create-quiz")
    on_screen(host, "lobby")
    return text_of(host, "#join-code")


def join(browser: Browser, link: str, name: str, viewport: dict[str, int]) -> Any:
    page = browser.open(link, viewport, name)
    page.fill("#name", name)
    page.click("#join-button")
    on_screen(page, "lobby")
    return page


def no_sideways_scroll(page: Any) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"the page scrolls sideways ({width} px)"


def keys(page: Any, *presses: str) -> None:
    for key in presses:
        page.keyboard.press(key)


def focused(page: Any) -> str:
    return page.evaluate("document.activeElement.id || document.activeElement.dataset.choice || ''")


def next_question(host: Any, phones: list[Any], number: int) -> None:
    host.click("#next")
    for page in phones:
        on_screen(page, "question")
        page.locator("#question-number", has_text=f"Question {number} of 6").wait_for()


def revealed(pages: list[Any]) -> None:
    for page in pages:
        on_screen(page, "reveal")


def test_two_players_answer_every_kind_by_mouse_and_by_keyboard(node_factory, chromium, screenshots):
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
    node = node_factory(definitions={"kinds": DEFINITION})
    browser = Browser(chromium, wait_ms=WAIT_MS, http_errors=True)
    shots = Screens(screenshots)
    host = browser.open(f"{node.http_url}/host", BIG_SCREEN, "host")
    quiz_id = create_quiz(host, node.token, "kinds")
    link = f"{node.http_url}/play?quiz={quiz_id}"
    mo = join(browser, link, "Mo", PHONE)
    kay = join(browser, link, "Kay", NARROW_PHONE)
    phones = [mo, kay]
    expect(host.locator("#player-count")).to_have_text("2")
    host.click("#start")
    for page in phones:
        on_screen(page, "question")

    # 1. single: Mo clicks B (right); Kay, on the first choice already, presses Enter (A, wrong).
    expect(mo.locator("#question-text")).to_have_text("Which planet is known as the Red Planet?")
    assert focused(kay) == "0", "focus goes to the first choice"
    mo.locator('#choices [data-choice="1"]').click()
    keys(kay, "Enter")
    revealed([host, mo, kay])
    expect(mo.locator("#answer-result")).to_have_attribute("data-correct", "true")
    expect(mo.locator("#result-answer")).to_have_text("Your answer: B (Mars)")
    expect(kay.locator("#answer-result")).to_have_attribute("data-correct", "false")
    expect(kay.locator("#result-answer")).to_have_text("Your answer: A (Venus)")
    expect(host.locator('#distribution li[data-correct="true"]')).to_have_attribute("data-choice", "1")
    expect(host.locator('#distribution li[data-choice="0"]')).to_have_attribute("data-count", "1")
    expect(host.locator("#explanation")).to_have_text(re.compile("Iron oxide"))
    expect(mo.locator("#explanation")).to_have_text(re.compile("Iron oxide"))
    # leaderboard = "reveal": the phones say their rank is the reveal's.
    expect(mo.locator("#rank-when")).to_have_text("at the reveal")
    expect(mo.locator("#board-when")).to_have_text("(ranks at the reveal)")
    no_sideways_scroll(kay)
    shots.shoot(host, "host-reveal-single")
    shots.shoot(mo, "mo-reveal-single")

    # 2. true_false: Mo clicks True; Kay tabs to False.
    next_question(host, phones, 2)
    expect(kay.locator("#choices .choice")).to_have_count(2)
    mo.locator('#choices [data-choice="0"]').click()
    keys(kay, "Tab", "Enter")
    revealed([host, mo, kay])
    expect(mo.locator("#answer-result")).to_have_attribute("data-correct", "true")
    expect(kay.locator("#result-answer")).to_have_text("Your answer: B (False)")
    expect(host.locator("#explanation")).to_have_text(re.compile("8 minutes and 20 seconds"))

    # 3. multiple: Mo toggles A, C, E and submits (all right); Kay picks A and C by
    #    keyboard and submits: partly right, with points.
    next_question(host, phones, 3)
    expect(mo.locator("#submit-answer")).to_be_disabled()  # at least one pick
    for choice in (0, 2, 4):
        mo.locator(f'#choices [data-choice="{choice}"]').click()
    expect(mo.locator('#choices [aria-pressed="true"]')).to_have_count(3)
    mo.locator('#choices [data-choice="4"]').click()  # a toggle: off again, then on
    expect(mo.locator('#choices [data-choice="4"]')).to_have_attribute("aria-pressed", "false")
    mo.locator('#choices [data-choice="4"]').click()
    shots.shoot(mo, "mo-multiple-picked")
    mo.click("#submit-answer")
    keys(kay, "Enter", "Tab", "Tab", "Enter")  # A, then C
    expect(kay.locator('#choices [aria-pressed="true"]')).to_have_count(2)
    keys(kay, "Tab", "Tab", "Tab", "Tab")  # D, E, F, Submit
    assert focused(kay) == "submit-answer"
    keys(kay, "Enter")
    revealed([host, mo, kay])
    expect(mo.locator("#answer-result")).to_have_attribute("data-correct", "true")
    expect(mo.locator("#result-answer")).to_have_text("Your answer: A (2), C (11), E (17)")
    expect(kay.locator("#answer-result")).to_have_attribute("data-correct", "partly")
    expect(kay.locator("#result-verdict")).to_have_text(re.compile(r"Partly right: \+[1-9]"))
    expect(host.locator('#distribution li[data-correct="true"]')).to_have_count(3)
    expect(host.locator('#distribution li[data-choice="2"]')).to_have_attribute("data-count", "2")
    expect(host.locator('#choices li[data-correct="true"] .mark')).to_have_count(3)
    no_sideways_scroll(kay)
    shots.shoot(host, "host-reveal-multiple")
    shots.shoot(kay, "kay-reveal-multiple")

    # 4. type_answer: Mo types a typo (one edit off Canberra: still right) and clicks
    #    Submit; Kay, in the field already, types and presses Enter.
    next_question(host, phones, 4)
    expect(host.locator("#kind-hint")).to_have_text("Type the answer on your phone.")
    assert kay.locator("#answer-text").evaluate("f => f.maxLength") == 100
    mo.fill("#answer-text", "  canbera ")
    mo.click("#submit-answer")
    expect(mo.locator("#answer-note")).to_have_text("Answer locked in! Wait for the reveal.")
    # Reloaded mid-question, Mo's page shows the typed answer again, sent and locked.
    mo.reload()
    on_screen(mo, "question")
    expect(mo.locator("#answer-text")).to_have_value("  canbera ")
    expect(mo.locator("#answer-text")).to_be_disabled()
    assert focused(kay) == "answer-text"
    kay.keyboard.type("Sydney")
    no_sideways_scroll(kay)
    shots.shoot(kay, "kay-type-answer")
    keys(kay, "Enter")
    revealed([host, mo, kay])
    expect(mo.locator("#answer-result")).to_have_attribute("data-correct", "true")
    expect(mo.locator("#result-answer")).to_have_text("Your answer: canbera")
    expect(kay.locator("#answer-result")).to_have_attribute("data-correct", "false")
    expect(host.locator(".typed-reveal .accepted")).to_have_text("Accepted: Canberra")
    expect(host.locator(".typed-reveal .correct-count")).to_have_text("1 player got it right")
    expect(host.locator(".top-answers li")).to_have_count(2)
    expect(host.locator(".top-answers li", has_text="sydney")).to_have_attribute("data-count", "1")
    expect(host.locator("#explanation")).to_be_hidden()  # this question has none
    shots.shoot(host, "host-reveal-type-answer")

    # 5. slider: Mo clicks the track and submits whatever it shows; Kay moves from the
    #    middle (1975) to 1969 with the arrow keys, then tabs to Submit.
    next_question(host, phones, 5)
    expect(kay.locator("#answer-value")).to_have_text("1975")
    box = mo.locator("#answer-range").bounding_box()
    mo.mouse.click(box["x"] + box["width"] * 0.2, box["y"] + box["height"] / 2)
    mo_value = int(text_of(mo, "#answer-value"))
    assert mo_value != 1975 and 1950 <= mo_value <= 1975, mo_value
    expect(mo.locator("#answer-number")).to_have_value(str(mo_value))
    mo.click("#submit-answer")
    assert focused(kay) == "answer-range"
    keys(kay, *["ArrowLeft"] * 6)
    expect(kay.locator("#answer-value")).to_have_text("1969")
    no_sideways_scroll(kay)
    shots.shoot(kay, "kay-slider")
    keys(kay, "Tab", "Tab")  # the exact number field, then Submit
    assert focused(kay) == "submit-answer"
    keys(kay, "Enter")
    revealed([host, mo, kay])
    expect(kay.locator("#answer-result")).to_have_attribute("data-correct", "true")
    expect(kay.locator("#result-answer")).to_have_text("Your answer: 1969")
    expect(mo.locator("#answer-result")).to_have_attribute("data-correct", str(abs(mo_value - 1969) <= 1).lower())
    expect(host.locator(".histogram li")).to_have_count(10)
    expect(host.locator('.histogram li[data-correct="true"]')).to_have_attribute("data-bin", "3")  # 1965-1970
    assert sum(int(c) for c in host.locator(".histogram li").evaluate_all("lis => lis.map(l => l.dataset.count)")) == 2
    expect(host.locator(".slider-reveal .correct-value")).to_have_text("Correct: 1969 (±1)")
    expect(host.locator(".slider-reveal .median")).to_have_text(f"Median answer: {(mo_value + 1969) / 2:g}")
    expect(host.locator("#explanation")).to_have_text(re.compile("Apollo 11"))
    expect(kay.locator(".histogram li")).to_have_count(10)
    shots.shoot(host, "host-reveal-slider")
    shots.shoot(kay, "kay-reveal-slider")

    # 6. poll: no verdict, a thank-you; the bars have no tick.
    next_question(host, phones, 6)
    mo.locator('#choices [data-choice="2"]').click()
    keys(kay, "Enter")
    revealed([host, mo, kay])
    for page in phones:
        expect(page.locator("#answer-result")).to_have_attribute("data-correct", "vote")
        expect(page.locator("#result-verdict")).to_have_text("Thanks, your vote is in")
    expect(host.locator('#distribution li[data-correct="true"]')).to_have_count(0)
    expect(host.locator('#distribution li[data-choice="2"]')).to_have_attribute("data-count", "1")
    shots.shoot(host, "host-reveal-poll")
    shots.shoot(mo, "mo-reveal-poll")

    host.click("#next")
    on_screen(mo, "ended")
    on_screen(host, "ended")
    assert browser.errors == [], browser.errors


BIG_SCREEN_ONLY = """\
id = "big-only"
title = "Eyes on the screen"
reveal = "on_answer"
leaderboard = "end"
close_when_all_answered = true
time_limit_ms = 60000
reveal_ms = 600000
countdown_ms = 1000

[[questions]]
text = "Which ocean is the largest?"
choices = ["Atlantic", "Pacific", "Indian", "Arctic"]
answer = 1

[[questions]]
kind = "slider"
text = "How many continents are there?"
min = 1
max = 10
step = 1
answer = 7
"""


def test_question_on_the_big_screen_only_and_ranks_at_the_end(node_factory, chromium, screenshots):
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
    node = node_factory(definitions={"big-only": BIG_SCREEN_ONLY})
    browser = Browser(chromium, wait_ms=WAIT_MS, http_errors=True)
    shots = Screens(screenshots)
    host = browser.open(f"{node.http_url}/host", BIG_SCREEN, "host")
    quiz_id = create_quiz(host, node.token, "big-only")

    # The host ticks the option: the join link (and its QR code) tell the phones.
    host.check("#big-screen-only")
    link = host.locator("#join-link").get_attribute("href")
    assert link == f"{node.http_url}/play?quiz={quiz_id}&screen=big"
    assert "screen%3Dbig" in host.locator("#join-qr").get_attribute("src")
    ivy = join(browser, link, "Ivy", NARROW_PHONE)
    host.click("#start")
    on_screen(ivy, "question")
    expect(host.locator("#question-text")).to_have_text("Which ocean is the largest?")
    expect(ivy.locator("#question-text")).to_have_text("Look at the big screen")
    expect(ivy.locator("#choices .choice")).to_have_count(4)
    expect(ivy.locator("#choices .choice .letter")).to_have_text(["A", "B", "C", "D"])
    body = ivy.locator("main").inner_text()
    for secret in ("Which ocean", "Atlantic", "Pacific"):
        assert secret not in body, f"{secret!r} is on the phone"
    # leaderboard = "end": no rank before the end, and no board at the reveal.
    expect(ivy.locator("#rank-when")).to_have_text("at the end")
    expect(ivy.locator("#my-rank")).to_have_text("–")
    no_sideways_scroll(ivy)
    shots.shoot(ivy, "ivy-big-screen-only")
    ivy.locator('#choices [data-choice="1"]').click()
    expect(ivy.locator("#answer-result")).to_have_attribute("data-correct", "true")
    expect(ivy.locator("#result-answer")).to_have_text("Your answer: B")
    on_screen(ivy, "reveal")
    expect(ivy.locator("#result-rank")).to_have_text("at the end")
    expect(ivy.locator("#board-panel")).to_be_hidden()
    assert "Pacific" not in ivy.locator("main").inner_text()
    shots.shoot(ivy, "ivy-big-screen-reveal")

    # A reload keeps the option (it lives in the page's URL).
    ivy.reload()
    on_screen(ivy, "reveal")
    assert "screen=big" in ivy.url
    expect(ivy.locator("#question-text")).to_have_text("Look at the big screen")

    # The slider's controls show, the question does not.
    host.click("#next")
    on_screen(ivy, "question")
    expect(ivy.locator("#question-text")).to_have_text("Look at the big screen")
    expect(ivy.locator("#answer-range")).to_be_visible()
    assert "continents" not in ivy.locator("main").inner_text()
    ivy.fill("#answer-number", "7")
    expect(ivy.locator("#answer-value")).to_have_text("7")
    ivy.click("#submit-answer")
    expect(ivy.locator("#answer-result")).to_have_attribute("data-correct", "true")
    no_sideways_scroll(ivy)
    shots.shoot(ivy, "ivy-big-screen-slider")
    host.click("#next")
    on_screen(ivy, "ended")
    expect(ivy.locator("#final-rank")).to_have_text(re.compile("You finished #1"))
    assert browser.errors == [], browser.errors
