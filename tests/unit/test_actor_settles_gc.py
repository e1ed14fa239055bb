"""A question never goes out with an arrival hold's collection still owed
(``gc_tuning.settle_before_question``, called by ``QuizActor._broadcast``): the quiz's
start pays it (in the countdown, when there is one), or the question itself."""

from __future__ import annotations

import gc
from typing import Any

import pytest
import trio

from quizd.actors.actor import QuizActor
from quizd.game.quiz import GameSettings, QuizGame
from quizd.ops import gc_tuning

from .actorkit import Endpoint, RecordingDelivery, command, join
from .quizkit import HOST_TOKEN, definition


@pytest.mark.parametrize("countdown_ms", [0, 1000])
async def test_starting_a_quiz_pays_the_arrival_hold_first(
    autojump_clock: Any, collector_on: None, countdown_ms: int
) -> None:
    gc_tuning.HOLD.begin()  # as while a lobby fills
    delivery = RecordingDelivery()
    game = QuizGame(
        "q", definition(countdown_ms=countdown_ms), GameSettings(), trio.current_time(), host_token=HOST_TOKEN
    )
    actor = QuizActor(game, delivery)
    async with trio.open_nursery() as nursery:
        await nursery.start(actor.run)
        host = Endpoint("host")
        await join(actor, "host", HOST_TOKEN, host)
        await join(actor, "player", "Ann", Endpoint("ann"))
        await trio.sleep(0.6)
        assert gc_tuning.HOLD.held  # joins and the lobby's broadcasts leave it alone
        command(actor, "host", host, "start")
        await trio.sleep(countdown_ms / 1000 + 0.1)
        assert not gc_tuning.HOLD.held and gc.isenabled()
        assert delivery.broadcasts_of("question")
        nursery.cancel_scope.cancel()
