"""A leaderboard fan-out waits while answers come in a burst (the answers go first).

Each leaderboard fan-out writes to every player; during a burst the node's time goes to
the answers, and the leaderboard (replaceable anyway) goes out, as the newest one, once
the burst is over or after ``DEFER_MAX_S``.  A burst is a backlog in the inbox, or
answers handled at a burst's rate (``quizd.actors.flow``): in a node the read poller
hands the actor a round of answers at a time, and the inbox is empty between rounds.
"""

from __future__ import annotations

from typing import Any

import trio

from quizd.actors.actor import BATCH, DEFER_BACKLOG, DEFER_MAX_S, DEFER_WINDOW_S, QuizActor
from quizd.game.quiz import GameSettings, QuizGame

from .actorkit import Endpoint, RecordingDelivery, answer, command, join, settle
from .quizkit import HOST_TOKEN, definition

PLAYERS = BATCH + DEFER_BACKLOG + 100  # one loop turn leaves a backlog of DEFER_BACKLOG + 100


class OrderedDelivery(RecordingDelivery):
    """Also keeps one log of sends and broadcasts in the order they happened."""

    def __init__(self) -> None:
        super().__init__()
        self.order: list[str] = []

    def send(self, participant_id: str, msg_type: str, body: bytes) -> None:
        self.order.append(msg_type)
        super().send(participant_id, msg_type, body)

    async def broadcast(self, msg_type: str, body: bytes, **kwargs: Any) -> None:
        self.order.append(f"broadcast:{msg_type}")
        await super().broadcast(msg_type, body, **kwargs)


async def quiz_with_players(nursery: trio.Nursery) -> tuple[QuizActor, OrderedDelivery, list[tuple[str, Endpoint]]]:
    game = QuizGame(
        "q",
        definition(questions=1, time_limit_ms=60000, countdown_ms=1000, reveal_ms=3000),
        GameSettings(max_players=PLAYERS + 10),
        trio.current_time(),
        host_token=HOST_TOKEN,
    )
    delivery = OrderedDelivery()
    actor = QuizActor(game, delivery)
    await nursery.start(actor.run)
    host = Endpoint("host")
    await join(actor, "host", HOST_TOKEN, host)
    players = []
    for i in range(PLAYERS):
        endpoint = Endpoint(f"p{i}")
        players.append((await join(actor, "player", f"Player {i}", endpoint), endpoint))
    command(actor, "host", host, "start")
    await settle()
    await trio.sleep(1.0 + 0.6)  # the countdown, then past the leaderboard interval
    return actor, delivery, players


async def test_the_leaderboard_goes_out_after_the_queued_answers(autojump_clock: Any) -> None:
    async with trio.open_nursery() as nursery:
        actor, delivery, players = await quiz_with_players(nursery)
        delivery.order.clear()
        for pid, endpoint in players:  # all queued at once: more than one loop turn handles
            answer(actor, pid, endpoint, "q0", 0)
        await settle()
        assert delivery.order.count("answer_result") == PLAYERS
        assert "broadcast:leaderboard" not in delivery.order  # the rate was a burst's
        await trio.sleep(3 * DEFER_WINDOW_S)  # a quiet moment: the burst is over
        last_reply = max(i for i, kind in enumerate(delivery.order) if kind == "answer_result")
        boards = [i for i, kind in enumerate(delivery.order) if kind == "broadcast:leaderboard"]
        assert delivery.order.count("answer_result") == PLAYERS
        assert boards, "the burst's leaderboard went out"
        assert boards[0] > last_reply
        nursery.cancel_scope.cancel()


async def test_a_leaderboard_waits_at_most_defer_max(autojump_clock: Any) -> None:
    """Answers that keep coming never hold a leaderboard back longer than DEFER_MAX_S.

    The actor's loop is not running here, so its inbox stays as full as the test makes it
    (a real burst refills it while the loop works, which virtual time cannot show)."""
    game = QuizGame("q", definition(questions=1), GameSettings(), trio.current_time(), host_token=HOST_TOKEN)
    delivery = OrderedDelivery()
    actor = QuizActor(game, delivery)
    endpoint = Endpoint("p")
    for _ in range(DEFER_BACKLOG):
        command(actor, "p1", endpoint, "get_leaderboard")
    async with trio.open_nursery() as nursery:
        actor._nursery = nursery
        actor._deferred = ("leaderboard", b'{"type":"leaderboard"}', trio.current_time())
        actor._start_deferred()
        await trio.sleep(DEFER_MAX_S / 2)
        actor._start_deferred()
        assert delivery.broadcasts_of("leaderboard") == []  # still a burst, not waited long enough
        await trio.sleep(DEFER_MAX_S / 2)
        actor._start_deferred()
        await settle()
        assert delivery.broadcasts_of("leaderboard") == [{"type": "leaderboard"}]


async def test_answers_handed_over_in_rounds_hold_the_leaderboard_until_they_stop(autojump_clock: Any) -> None:
    """As from the read poller: rounds of answers, each handled whole before the next
    (the inbox empty at every check), at a burst's rate; then they stop."""
    async with trio.open_nursery() as nursery:
        actor, delivery, players = await quiz_with_players(nursery)
        delivery.order.clear()
        rounds = [players[i : i + 40] for i in range(0, len(players), 40)]
        for batch in rounds:
            for pid, endpoint in batch:
                answer(actor, pid, endpoint, "q0", 0)
            await settle()
            assert actor._inbox.statistics().current_buffer_used == 0
            await trio.sleep(0.005)  # 40 answers every 5 ms: 8,000/s
        assert "broadcast:leaderboard" not in delivery.order
        await trio.sleep(3 * DEFER_WINDOW_S)
        assert delivery.order.count("answer_result") == PLAYERS
        assert delivery.order[-1] == "broadcast:leaderboard"
        assert delivery.order.count("broadcast:leaderboard") == 1  # the newest one, once
        nursery.cancel_scope.cancel()


async def test_steady_answers_never_hold_the_leaderboard(autojump_clock: Any) -> None:
    async with trio.open_nursery() as nursery:
        actor, delivery, players = await quiz_with_players(nursery)
        delivery.order.clear()
        for pid, endpoint in players[:60]:  # one every 10 ms: 100/s
            answer(actor, pid, endpoint, "q0", 0)
            await settle()
            await trio.sleep(0.01)
            if "broadcast:leaderboard" in delivery.order:
                break
        # The first answer changed the board; it went out with the first turn a window
        # later (the answers at 0, 10, 20 and 30 ms came before it).
        first = delivery.order.index("broadcast:leaderboard")
        assert delivery.order[:first].count("answer_result") <= int(DEFER_WINDOW_S / 0.01) + 2
        nursery.cancel_scope.cancel()
