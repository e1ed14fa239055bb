"""The host screen's quiz library in real Chromium: the editor, the history and a report.

Against a real node with its SQLite database: the teacher types the admin token, opens
the library (file definitions are marked read-only), writes a quiz with four kinds of
question, saves it with two mistakes and sees each problem at its field (and in the
summary), fixes them and saves version 1, then edits it to version 2.  Two players play
it over the WebSocket (quizd.client); the history lists the quiz, the report shows what
each player answered, and the CSV download carries the header row.  Every new screen is
photographed (also at 360 px) into the test's output folder; the admin token is never
kept anywhere a page keeps things.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
import trio

from quizd.client import connect
from tests.browser.browserkit import BIG_SCREEN, UNNAMED, WAIT_MS, Browser, Screens, needs_chromium, on_screen

pytestmark = [pytest.mark.e2e, needs_chromium]

# Generous: the machine is shared and Chromium is slow on it.
SLOW_MS = max(WAIT_MS, 30000)
PHONE_360 = {"width": 360, "height": 740}
# What each player sends to each question (by kind): Ann is right, Ben wrong.
ANSWERS = {
    "Ann": [{"choice": 0}, {"choice": 0}, {"text": "  canberra "}, {"value": 1969}],
    "Ben": [{"choice": 1}, {"choice": 1}, {"text": "Sydney"}, {"value": 1990}],
}
CSV_HEADER = "rank,name,participant_id,score,correct_count," + ",".join(
    f"q{n}_answer,q{n}_correct,q{n}_points,q{n}_ms" for n in range(1, 5)
)


def api(http_url: str, token: str, method: str, path: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"{http_url}{path}",
        data=data,
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"null")


def play(ws_url: str, quiz_id: str, host_token: str) -> None:
    """The host starts the quiz and two players answer every question (each closes when
    both answered; the reveal moves on by itself), in a thread of its own so that Trio
    and Playwright's loop never share one."""

    async def player(name: str, joined: trio.Event, done: list[str]) -> None:
        async with connect(ws_url) as conn:
            reply = await conn.join(quiz_id, name=name)
            assert reply["type"] == "joined", reply
            joined.set()
            for answer in ANSWERS[name]:
                question = await conn.expect("question", timeout=60)
                result = await conn.request("answer", {"questionId": question["payload"]["questionId"], **answer})
                assert result["type"] in ("answer_accepted", "answer_result"), result
            await conn.expect("quiz_ended", timeout=60)
            done.append(name)

    async def main() -> None:
        done: list[str] = []
        async with connect(ws_url) as host:
            reply = await host.join(quiz_id, hostToken=host_token)
            assert reply["type"] == "joined", reply
            async with trio.open_nursery() as nursery:
                events = []
                for name in ANSWERS:
                    event = trio.Event()
                    events.append(event)
                    nursery.start_soon(player, name, event, done)
                for event in events:
                    await event.wait()
                started = await host.request("start")
                assert started["type"] != "error", started
        assert sorted(done) == sorted(ANSWERS)

    failure: list[BaseException] = []

    def run() -> None:
        try:
            trio.run(main)
        except BaseException as error:  # re-raised in the test's thread
            failure.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(120)
    assert not thread.is_alive(), "the quiz did not finish within 120 s"
    if failure:
        raise failure[0]


def wait_for_history(http_url: str, token: str, quiz_id: str) -> None:
    """Results are written when the quiz ends, by the batch writer: wait for them."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        items = api(http_url, token, "GET", "/api/history")["items"]
        if any(item["quizId"] == quiz_id and item["players"] == 2 for item in items):
            return
        time.sleep(0.3)
    raise AssertionError(f"quiz {quiz_id} never reached the history")


def fits(page: Any) -> bool:
    """Nothing makes the page wider than the screen (tables scroll inside their panel)."""
    return bool(page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth"))


def question(page: Any, n: int) -> Any:
    return page.locator("#editor-questions > li").nth(n)


def test_a_teacher_writes_a_quiz_plays_it_and_reads_its_report(node_factory, chromium, screenshots):
    from playwright.sync_api import expect

    expect.set_options(timeout=SLOW_MS)
    shots = Screens(screenshots)
    node = node_factory()
    browser = Browser(chromium)
    host = browser.open(f"{node.http_url}/host", BIG_SCREEN, "host")
    host.set_default_timeout(SLOW_MS)
    on_screen(host, "setup")
    expect(host.locator("#open-library")).to_be_disabled()
    host.fill("#admin-token", node.token)
    host.click("#load-definitions")
    expect(host.locator("#open-library")).to_be_enabled()
    host.click("#open-library")
    on_screen(host, "library")

    # The node's files are listed, marked read-only, with nothing to edit or delete.
    filed = host.locator('#definitions-table tr[data-definition-id="vocab-101"]')
    expect(filed).to_contain_text("File (read-only)")
    assert filed.locator("button").count() == 0
    shots.shoot(host, "library-empty-history")

    # A new quiz: the title is left empty and the slider's answer is off its step.
    host.click("#new-definition")
    on_screen(host, "editor")
    host.fill("#ed-id", "editor-quiz")
    host.fill("#ed-countdown_ms", "500")
    host.fill("#ed-reveal_ms", "500")
    host.fill("#ed-time_limit_ms", "30000")
    host.check("#ed-close_when_all_answered")
    first = question(host, 0)
    first.locator("textarea.text").fill("Which city is the capital of France?")
    first.locator(".choice-text").nth(0).fill("Paris")
    first.locator(".choice-text").nth(1).fill("Rome")
    first.locator(".add-choice").click()
    first.locator(".choice-text").nth(2).fill("Berlin")
    expect(first.locator(".correct").nth(0)).to_be_checked()

    host.click("#add-question")
    second = question(host, 1)
    second.locator("select.kind").select_option("true_false")
    second.locator("textarea.text").fill("The Moon orbits the Earth.")
    expect(second.locator('input.tf[value="true"]')).to_be_checked()

    host.click("#add-question")
    third = question(host, 2)
    third.locator("select.kind").select_option("type_answer")
    third.locator("textarea.text").fill("What is the capital city of Australia?")
    third.locator("textarea.accepted").fill("Canberra")
    third.locator(".typo_tolerance").check()
    third.locator("textarea.explanation").fill("Not Sydney: Canberra was built to be the capital.")

    host.click("#add-question")
    fourth = question(host, 3)
    fourth.locator("select.kind").select_option("slider")
    fourth.locator("textarea.text").fill("In which year did the first person walk on the Moon?")
    fourth.locator(".slider-min").fill("1950")
    fourth.locator(".slider-max").fill("2000")
    fourth.locator(".slider-step").fill("1")
    fourth.locator(".slider-answer").fill("1969.5")
    fourth.locator(".slider-tolerance").fill("1")
    assert host.evaluate(UNNAMED) == []

    host.click("#save-definition")
    summary = host.locator("#editor-summary")
    expect(summary).to_be_visible()
    expect(summary).to_contain_text("2 problems")
    expect(host.locator("#editor-summary-list li")).to_have_count(2)
    # Each problem sits at its field: aria-invalid, and a message the field names.
    for field, words in ((host.locator("#ed-title"), "must not be empty"), (fourth.locator(".slider-answer"), "step")):
        expect(field).to_have_attribute("aria-invalid", "true")
        described = field.get_attribute("aria-describedby") or ""
        message = host.locator(f"#{described.split()[-1]}")
        expect(message).to_contain_text(words)
        expect(message).to_be_visible()
    expect(host.locator('#editor-summary-list [data-path="questions[3].answer"]')).to_contain_text("Question 4, answer")
    expect(first.locator(".text")).not_to_have_attribute("aria-invalid", "true")
    shots.shoot(host, "editor-problems")
    # The summary's link takes the keyboard to the field.
    host.locator('#editor-summary-list [data-path="questions[3].answer"]').click()
    expect(fourth.locator(".slider-answer")).to_be_focused()

    host.fill("#ed-title", "Capitals and the Moon")
    fourth.locator(".slider-answer").fill("1969")
    host.click("#save-definition")
    expect(host.locator("#editor-saved")).to_have_text("Saved: version 1")
    expect(host.locator("#editor-summary")).to_be_hidden()
    assert host.locator("[aria-invalid]").count() == 0
    shots.shoot(host, "editor-saved")

    stored = api(node.http_url, node.token, "GET", "/api/definitions/editor-quiz")
    assert stored["source"] == "api" and stored["close_when_all_answered"] is True
    assert [q.get("kind", "single") for q in stored["questions"]] == ["single", "true_false", "type_answer", "slider"]
    assert stored["questions"][0]["choices"] == ["Paris", "Rome", "Berlin"] and stored["questions"][0]["answer"] == 0
    assert stored["questions"][1]["answer"] is True
    assert stored["questions"][2]["accepted"] == ["Canberra"] and stored["questions"][2]["typo_tolerance"] is True
    assert (stored["questions"][3]["answer"], stored["questions"][3]["tolerance"]) == (1969, 1)

    # Back in the library it is editable; one made over the API meanwhile is deletable,
    # after an inline confirmation.
    api(
        node.http_url,
        node.token,
        "POST",
        "/api/definitions",
        {"id": "throwaway", "title": "Throwaway", "questions": [{"text": "Q?", "choices": ["a", "b"], "answer": 0}]},
    )
    host.click("#editor-cancel")
    on_screen(host, "library")
    throwaway = host.locator('#definitions-table tr[data-definition-id="throwaway"]')
    throwaway.locator("button.delete").click()
    expect(throwaway.locator("button.delete-confirm")).to_be_focused()
    throwaway.locator("button.delete-confirm").click()
    expect(throwaway).to_have_count(0)
    with pytest.raises(urllib.error.HTTPError) as gone:
        api(node.http_url, node.token, "GET", "/api/definitions/throwaway")
    assert gone.value.code == 404

    # Editing loads every kind and saves version 2.
    row = host.locator('#definitions-table tr[data-definition-id="editor-quiz"]')
    expect(row).to_contain_text("v1")
    row.locator("button.edit").click()
    on_screen(host, "editor")
    expect(host.locator("#ed-title")).to_have_value("Capitals and the Moon")
    expect(host.locator("#ed-id")).to_have_js_property("readOnly", True)
    expect(host.locator("#editor-questions > li")).to_have_count(4)
    expect(question(host, 3).locator("select.kind")).to_have_value("slider")
    expect(question(host, 3).locator(".slider-answer")).to_have_value("1969")
    expect(question(host, 2).locator("textarea.accepted")).to_have_value("Canberra")
    # Reorder: the true/false question goes first and back again, by keyboard-reachable buttons.
    question(host, 1).locator(".move-up").click()
    expect(question(host, 0).locator("select.kind")).to_have_value("true_false")
    question(host, 0).locator(".move-down").click()
    expect(question(host, 1).locator("select.kind")).to_have_value("true_false")
    host.click("#save-definition")
    expect(host.locator("#editor-saved")).to_have_text("Saved: version 2")

    # Two players play it over the WebSocket.
    created = api(
        node.http_url, node.token, "POST", "/api/quizzes", {"definitionId": "editor-quiz", "quizId": "editor-run"}
    )
    play(node.ws_url, "editor-run", created["hostToken"])
    wait_for_history(node.http_url, node.token, "editor-run")

    host.click("#editor-cancel")
    on_screen(host, "library")
    past = host.locator('#history-table tr[data-quiz-id="editor-run"]')
    expect(past).to_contain_text("Capitals and the Moon")
    expect(past).to_contain_text("editor-quiz v2")
    expect(host.locator("#history-more")).to_be_hidden()
    shots.shoot(host, "library-history")

    past.locator("button.open-report").click()
    on_screen(host, "report")
    expect(host.locator("#report-heading")).to_have_text("Report: Capitals and the Moon")
    expect(host.locator("#report-questions tbody tr")).to_have_count(4)
    expect(host.locator("#report-questions tbody tr").nth(2).locator(".answered")).to_have_text("2")
    expect(host.locator("#report-questions tbody tr").nth(2).locator(".correct")).to_have_text("1")
    players = host.locator("#report-players tbody tr")
    expect(players).to_have_count(2)
    ann, ben = players.nth(0), players.nth(1)
    expect(ann.locator(".name")).to_have_text("Ann")
    expect(ben.locator(".name")).to_have_text("Ben")
    for n in range(1, 5):
        expect(ann.locator(f'td.answer[data-question="{n}"]')).to_have_attribute("data-correct", "true")
        expect(ben.locator(f'td.answer[data-question="{n}"]')).to_have_attribute("data-correct", "false")
    expect(ann.locator('td.answer[data-question="1"]')).to_contain_text("A")
    expect(ann.locator('td.answer[data-question="2"] .given')).to_have_text("True")
    expect(ann.locator('td.answer[data-question="3"]')).to_contain_text("canberra")
    expect(ben.locator('td.answer[data-question="3"]')).to_contain_text("Sydney")
    expect(ann.locator('td.answer[data-question="4"]')).to_contain_text("1969")
    expect(ann.locator('td.answer[data-question="4"] .detail')).to_contain_text(" ms")
    expect(ben.locator('td.answer[data-question="1"] .detail')).to_contain_text("0 pts")
    shots.shoot(host, "report")

    # The CSV comes through a Blob URL (a link cannot carry the bearer header).
    with host.expect_download(timeout=SLOW_MS) as download:
        host.click("#download-csv")
    assert download.value.suggested_filename == "quiz-editor-run-report.csv"
    rows = download.value.path().read_bytes().decode("utf-8").split("\r\n")
    assert rows[0] == CSV_HEADER
    assert rows[1].startswith("1,Ann,") and rows[2].startswith("2,Ben,")

    # At 360 px nothing widens the page; the wide tables scroll inside their panels.
    host.set_viewport_size(PHONE_360)
    assert fits(host)
    shots.shoot(host, "report-360px")
    host.click("#report-back")
    on_screen(host, "library")
    expect(past).to_be_visible()
    assert fits(host)
    shots.shoot(host, "library-360px")
    host.locator('#definitions-table tr[data-definition-id="editor-quiz"] button.edit').click()
    on_screen(host, "editor")
    assert fits(host)
    shots.shoot(host, "editor-360px")

    # The admin token lives in the tab's memory and nowhere a page keeps things.
    kept = host.evaluate(
        "() => JSON.stringify([{...sessionStorage}, {...localStorage}, location.href, "
        "document.cookie, document.documentElement.outerHTML])"
    )
    assert node.token not in kept
    # The browser itself logs the 422 it was sent; nothing else may show up.
    assert [e for e in browser.errors if "422" not in e] == []
