"""A leaderboard rides with the broadcast just before it (``QuizActor._broadcast``).

The throttle's ``participants`` in a filling lobby and a ``question_closed`` go to
everyone at once anyway; the leaderboard that follows them goes in the same write
(``Delivery.broadcast_pair``), never in a fan-out of its own.  A question is never
paired: its hand-off times are recorded frame by frame.
"""

from __future__ import annotations

from typing import Any

import trio

from quizd.actors.actor import QuizActor
from quizd.game.quiz import GameSettings, QuizGame

from .actorkit import Endpoint, RecordingDelivery, answer, command, join, settle
from .quizkit import HOST_TOKEN, definition


async def lobby(
    nursery: trio.Nursery, players: int, delivery: RecordingDelivery, **kw: Any
) -> tuple[QuizActor, dict[str, Endpoint]]:
    """A running quiz with its host and ``players`` joined: the actor and the endpoints by id."""
    game = QuizGame("q", definition(**kw), GameSettings(), trio.current_time(), host_token=HOST_TOKEN)
    actor = QuizActor(game, delivery)
    await nursery.start(actor.run)
    endpoints = {"host": Endpoint("host")}
    await join(actor, "host", HOST_TOKEN, endpoints["host"])
    for i in range(players):
        endpoint = Endpoint(f"p{i}")
        endpoints[await join(actor, "player", f"Player {i}", endpoint)] = endpoint
    return actor, endpoints


def types(delivery: RecordingDelivery) -> list[str]:
    return [m["type"] for _t, m in delivery.broadcasts]


async def test_a_filling_lobby_sends_participants_and_leaderboard_together(autojump_clock: Any) -> None:
    delivery = RecordingDelivery()
    async with trio.open_nursery() as nursery:
        actor, _ = await lobby(nursery, 3, delivery)
        await trio.sleep(0.6)  # past the throttle's interval
        await join(actor, "player", "Late", Endpoint("late"))
        await trio.sleep(0.6)
        assert delivery.pairs == [("participants", "leaderboard")] * 2
        # Every leaderboard went with a participants, none on its own.
        assert types(delivery) == ["participants", "leaderboard"] * 2
        assert delivery.broadcasts_of("leaderboard")[-1]["payload"]["total"] == 4
        nursery.cancel_scope.cancel()


async def test_a_reveal_sends_question_closed_and_leaderboard_together_but_no_question(
    autojump_clock: Any,
) -> None:
    delivery = RecordingDelivery()
    async with trio.open_nursery() as nursery:
        actor, endpoints = await lobby(nursery, 2, delivery, questions=1, countdown_ms=1000, reveal_ms=3000)
        await trio.sleep(0.6)
        delivery.pairs.clear()
        command(actor, "host", endpoints["host"], "start")
        await trio.sleep(1.1)  # the countdown: the question is open
        pid = next(pid for pid in endpoints if pid != "host")
        answer(actor, pid, endpoints[pid], "q0", 0)
        await settle()
        await trio.sleep(25)  # the question's time runs out: the reveal
        assert "question" in types(delivery) and "question_closed" in types(delivery)
        assert ("question_closed", "leaderboard") in delivery.pairs
        assert all(first != "question" for first, _ in delivery.pairs)
        closed = types(delivery).index("question_closed")
        assert types(delivery)[closed + 1] == "leaderboard"
        nursery.cancel_scope.cancel()
