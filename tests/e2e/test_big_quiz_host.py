"""The host of a quiz of 10,000 players joins, sees every player and runs the quiz.

The host's ``joined`` used to list every player: with 10,000 players of 24-character
names it outgrew the connection's send queue (256 KiB) and the node cut the host as a
slow consumer on every join and resume.  Now ``joined`` holds one page and the host
pages through the rest with ``get_players``; no frame the host receives grows with the
quiz.  Players join on short-lived connections: a player whose connection drops stays
in the quiz, disconnected, so 10,000 of them need no 10,000 open sockets.
"""

from __future__ import annotations

import resource
from typing import Any

import pytest
import trio

from quizd.client import ControlClient, connect
from tests.e2e.clientkit import join_and_drop
from tests.nodekit import quiz_toml

pytestmark = pytest.mark.e2e

PLAYERS = 10_000
PARALLEL = 100
FRAME_BOUND = 64 * 1024


def raise_nofile(want: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))


async def test_the_host_of_10000_players_joins_pages_through_them_and_runs_the_quiz(node_factory: Any) -> None:
    raise_nofile(4096)
    node = node_factory(
        {"big": quiz_toml("big", questions=2, reveal_ms=60000)},
        quizzes={"max_players": PLAYERS + 100},
    )
    control = ControlClient(node.http_url, node.token)
    quiz = await control.create_quiz("big")
    quiz_id, host_token = quiz["quizId"], quiz["hostToken"]

    names = [f"player-{i:05d}-of-the-big-one"[:24] for i in range(PLAYERS)]
    assert all(len(n) == 24 for n in names)
    with trio.fail_after(50):
        for start in range(0, PLAYERS, PARALLEL):
            async with trio.open_nursery() as nursery:
                for name in names[start : start + PARALLEL]:
                    nursery.start_soon(join_and_drop, node.ws_address, quiz_id, name)
    assert (await control.quiz(quiz_id))["participants"] == PLAYERS

    async with connect(node.ws_url, max_message_size=4 * 1024 * 1024) as host:
        sizes: list[int] = []
        raw_get = host.ws.get_message

        async def measured() -> Any:
            message = await raw_get()
            sizes.append(len(message.encode() if isinstance(message, str) else message))
            return message

        host.ws.get_message = measured  # type: ignore[method-assign]
        joined = (await host.join(quiz_id, hostToken=host_token))["payload"]
        assert joined["playersTotal"] == PLAYERS
        listed = [p["participantId"] for p in joined["players"]]
        cursor = joined["playersNext"]
        while cursor is not None:
            page = await host.request("get_players", {"after": cursor})
            assert page["type"] == "players", page
            listed.extend(p["participantId"] for p in page["payload"]["players"])
            cursor = page["payload"]["next"]
        assert len(listed) == len(set(listed)) == PLAYERS
        assert {p["name"] for p in joined["players"]} <= set(names)

        assert (await host.request("start"))["type"] == "host_state"
        await host.expect("question", timeout=15)
        state = await host.request("next", {"questionIndex": 0})
        assert state["type"] == "host_state" and state["payload"]["phase"] == "reveal", state
        state = await host.request("end")
        assert state["payload"]["phase"] == "ended", state
        assert any(m["type"] == "quiz_ended" for m in host.received)
        assert max(sizes) <= FRAME_BOUND, max(sizes)
