"""Names (v2) on a real node (protocol.md section 3 "Names (v2)", operations.md v2
``[quizzes] names`` and ``name_denylist``): a join without a name gets a generated one,
a name holding a deny-list word is ``name_invalid`` reason ``denied``, and SIGHUP
re-reads the list."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest
import trio

from quizd.client import ControlClient, connect
from quizd.game.namegen import shipped_words
from tests.e2e.httpkit import metric
from tests.e2e.protocolkit import WAIT
from tests.nodekit import quiz_toml

pytestmark = pytest.mark.e2e


def names_node(node_factory: Any, tmp_path: Path, words: str, mode: str = "both") -> Any:
    denylist = tmp_path / "deny.txt"
    denylist.write_text(words, encoding="utf-8")
    return node_factory(definitions={"a": quiz_toml("a")}, quizzes={"names": mode, "name_denylist": str(denylist)})


async def join(node: Any, quiz_id: str, **how: str) -> dict[str, Any]:
    async with connect(node.ws_url) as conn:
        return await conn.join(quiz_id, **how)


async def test_join_without_a_name_gets_a_generated_one_and_denied_names_are_refused(
    node_factory: Any, tmp_path: Path
) -> None:
    node = names_node(node_factory, tmp_path, "# refused here\nbad\n")
    quiz = await ControlClient(node.http_url, node.token).create_quiz("a")
    quiz_id = quiz["quizId"]

    names = []
    for _ in range(3):
        joined = await join(node, quiz_id)
        assert joined["type"] == "joined", joined
        assert joined["payload"]["role"] == "player"
        names.append(joined["payload"]["name"])
    assert len(set(names)) == 3
    for name in names:
        adjective, animal = name.split(" ")
        assert adjective in shipped_words().adjectives and animal in shipped_words().animals

    kept = await join(node, quiz_id, name="Ann")
    assert kept["payload"]["name"] == "Ann"

    for disguised in ("B4D", "Not b.a.d", "ｂ＠ｄ guy", "x-B_4-d"):
        refused = await join(node, quiz_id, name=disguised)
        assert refused["type"] == "error", refused
        assert refused["payload"]["code"] == "name_invalid"
        assert refused["payload"]["details"] == {"reason": "denied"}


async def test_generated_mode_ignores_a_given_name(node_factory: Any, tmp_path: Path) -> None:
    node = names_node(node_factory, tmp_path, "", mode="generated")
    quiz = await ControlClient(node.http_url, node.token).create_quiz("a")
    joined = await join(node, quiz["quizId"], name="Ann")
    assert joined["type"] == "joined", joined
    assert joined["payload"]["name"] != "Ann"
    assert joined["payload"]["name"].split(" ")[1] in shipped_words().animals


async def test_given_mode_still_needs_a_name(node_factory: Any) -> None:
    node = node_factory(definitions={"a": quiz_toml("a")})
    quiz = await ControlClient(node.http_url, node.token).create_quiz("a")
    refused = await join(node, quiz["quizId"])
    assert refused["type"] == "error"
    assert refused["payload"]["code"] == "invalid_message"


async def test_sighup_reloads_the_denylist(node_factory: Any, tmp_path: Path) -> None:
    node = names_node(node_factory, tmp_path, "bad\n")
    control = ControlClient(node.http_url, node.token)
    quiz_id = (await control.create_quiz("a"))["quizId"]
    assert (await join(node, quiz_id, name="Gr3mlin"))["type"] == "joined"

    before = await metric(node, "quizd_config_reloads_total", {"result": "success"})
    (tmp_path / "deny.txt").write_text("bad\ngremlin\n", encoding="utf-8")
    node.signal(signal.SIGHUP)
    with trio.fail_after(WAIT):
        while await metric(node, "quizd_config_reloads_total", {"result": "success"}) < before + 1:
            await trio.sleep(0.05)

    # The live quiz applies the new list from its next join on.
    refused = await join(node, quiz_id, name="GREMLIN 2")
    assert refused["payload"]["code"] == "name_invalid"
    assert refused["payload"]["details"] == {"reason": "denied"}
    assert (await join(node, quiz_id, name="Ann"))["type"] == "joined"


async def test_a_vanished_denylist_keeps_the_running_one(node_factory: Any, tmp_path: Path) -> None:
    node = names_node(node_factory, tmp_path, "bad\n")
    control = ControlClient(node.http_url, node.token)
    quiz_id = (await control.create_quiz("a"))["quizId"]
    before = await metric(node, "quizd_config_reloads_total", {"result": "failure"})
    (tmp_path / "deny.txt").unlink()
    node.signal(signal.SIGHUP)
    with trio.fail_after(WAIT):
        while await metric(node, "quizd_config_reloads_total", {"result": "failure"}) < before + 1:
            await trio.sleep(0.05)
    refused = await join(node, quiz_id, name="b4d")
    assert refused["payload"]["details"] == {"reason": "denied"}
