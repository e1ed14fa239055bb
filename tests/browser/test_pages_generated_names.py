"""The player page on a node that generates names (operations.md v2 ``[quizzes] names``),
in real Chromium: with ``both`` the name field may be left empty and the page shows the
generated name once joined, a typed name is kept, and a denied one is explained; with
``generated`` the page asks no name at all."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from quizd.client import ControlClient
from quizd.game.namegen import shipped_words
from tests.browser.browserkit import WAIT_MS, Browser, needs_chromium, on_screen, text_of
from tests.nodekit import quiz_toml

pytestmark = [pytest.mark.e2e, needs_chromium]

PHONE = {"width": 360, "height": 740}


def create_quiz(node: Any) -> str:
    import trio

    async def create() -> str:
        return str((await ControlClient(node.http_url, node.token).create_quiz("a"))["quizId"])

    return trio.run(create)


def is_generated(name: str) -> bool:
    adjective, _, animal = name.partition(" ")
    return adjective in shipped_words().adjectives and animal in shipped_words().animals


def test_both_an_empty_name_gets_a_generated_one(node_factory: Any, chromium: Any, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
    (tmp_path / "deny.txt").write_text("bad\n")
    node = node_factory(
        definitions={"a": quiz_toml("a")}, quizzes={"names": "both", "name_denylist": str(tmp_path / "deny.txt")}
    )
    quiz_id = create_quiz(node)
    browser = Browser(chromium)

    page = browser.open(f"{node.http_url}/play?quiz={quiz_id}", PHONE, "anonymous")
    on_screen(page, "join")
    expect(page.locator("#name-hint")).to_contain_text("Leave empty for a generated name")
    page.click("#join-button")
    on_screen(page, "lobby")
    generated = text_of(page, "#lobby-name")
    assert is_generated(generated), generated
    expect(page.locator("#my-name")).to_have_text(generated)

    typed = browser.open(f"{node.http_url}/play?quiz={quiz_id}", PHONE, "typed")
    on_screen(typed, "join")
    expect(typed.locator("#name-hint")).to_contain_text("Leave empty")
    typed.fill("#name", "Ann")
    typed.click("#join-button")
    on_screen(typed, "lobby")
    expect(typed.locator("#lobby-name")).to_have_text("Ann")

    denied = browser.open(f"{node.http_url}/play?quiz={quiz_id}", PHONE, "denied")
    on_screen(denied, "join")
    expect(denied.locator("#name-hint")).to_contain_text("Leave empty")
    denied.fill("#name", "B.4.D")
    denied.click("#join-button")
    expect(denied.locator("#join-error")).to_have_text("That name isn't allowed here. Please pick another one.")
    assert browser.errors == []


def test_generated_asks_no_name(node_factory: Any, chromium: Any) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
    node = node_factory(definitions={"a": quiz_toml("a")}, quizzes={"names": "generated"})
    quiz_id = create_quiz(node)
    browser = Browser(chromium)
    page = browser.open(f"{node.http_url}/play?quiz={quiz_id}", PHONE, "player")
    on_screen(page, "join")
    expect(page.locator("#name")).to_be_hidden()
    expect(page.locator("#name-hint")).to_have_text("You will get a name when you join.")
    page.click("#join-button")
    on_screen(page, "lobby")
    assert is_generated(text_of(page, "#lobby-name"))
    assert browser.errors == []
