"""The fair-timing window cannot be stretched by the client (issue "Hold under hostile load").

A client that stops reading delays the hand-off of its own question frame.  Its window
starts no later than the opening plus ``HANDOFF_SLACK_S``, the question closes no later
than limit + slack, and the host's hand-off counts for nothing.  Proven on the
``HandoffLog`` (a Hypothesis property), on a real ``QuizActor`` in virtual time, and on
the gateway's batched reports of hand-offs to a remote owner.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st

from quizd.cluster.handoff_reports import REPORT_INTERVAL_S, RemoteHandoffs
from quizd.cluster.messages import HandoffTimes, RelayMessage
from quizd.game.handoffs import HANDOFF_SLACK_S, HandoffLog
from quizd.game.participants import HOST_ID
from quizd.game.scoring import time_points

from .actorkit import RecordingDelivery, answer, running, settle
from .test_fair_timing import LIMIT, STAGGER, Quiz

OPEN = 100.0

# ---------------------------------------------------------------- the log: a property
offsets = st.floats(min_value=0.0, max_value=3 * LIMIT, allow_nan=False)
handoffs = st.lists(st.tuples(st.sampled_from(["p1", "p2", "p3", "p4", HOST_ID]), offsets), max_size=12)


@given(handoffs, st.booleans())
def test_no_window_starts_after_the_cap_and_the_close_is_bounded(events, in_bulk):
    log = HandoffLog("q0", OPEN, LIMIT)
    for pid, offset in events:
        if in_bulk:
            log.handed_many([pid], OPEN + offset)
        else:
            log.handed(pid, OPEN + offset)
    for pid, _offset in events:
        assert OPEN <= log.window_start(pid) <= OPEN + HANDOFF_SLACK_S
    assert log.close_at(LIMIT) <= OPEN + LIMIT + HANDOFF_SLACK_S


@given(handoffs, st.booleans())
def test_one_at_a_time_and_in_bulk_keep_the_same_log(events, track):
    """``handed`` spells out what ``handed_many`` does through ``_moved`` (it runs once
    per player per fan-out): for any hand-offs, early, capped or past the nominal end,
    both keep the same times, the same close and the same fresh list."""
    one, bulk = HandoffLog("q0", OPEN, LIMIT, track=track), HandoffLog("q0", OPEN, LIMIT, track=track)
    for pid, offset in events:
        one.handed(pid, OPEN + offset)
        bulk.handed_many([pid], OPEN + offset)
        assert one.latest == bulk.latest
    assert one.times == bulk.times and one.fresh == bulk.fresh
    assert one.close_at(LIMIT) == bulk.close_at(LIMIT)
    for pid, _offset in events:
        assert one.window_start(pid) == bulk.window_start(pid)


@given(handoffs, st.floats(min_value=0.0, max_value=HANDOFF_SLACK_S, allow_nan=False))
def test_a_player_handed_within_the_slack_is_not_penalised(events, offset):
    log = HandoffLog("q0", OPEN, LIMIT)
    log.handed("me", OPEN + offset)
    for pid, other in events:
        log.handed(pid, OPEN + other)
    assert log.window_start("me") == OPEN + offset
    assert log.close_at(LIMIT) >= OPEN + offset + LIMIT  # its whole window fits before the close


@given(handoffs, offsets)
def test_the_hosts_handoff_changes_nothing(events, host_offset):
    with_host, without = HandoffLog("q0", OPEN, LIMIT), HandoffLog("q0", OPEN, LIMIT)
    with_host.handed(HOST_ID, OPEN + host_offset)
    with_host.handed_many([HOST_ID], OPEN + host_offset)
    for pid, offset in events:
        if pid != HOST_ID:
            with_host.handed(pid, OPEN + offset)
            without.handed(pid, OPEN + offset)
    assert HOST_ID not in with_host.times and HOST_ID not in with_host.fresh
    assert with_host.close_at(LIMIT) == without.close_at(LIMIT)
    assert with_host.times == without.times


def test_a_late_handoff_within_the_nominal_window_starts_at_the_cap():
    log = HandoffLog("q0", OPEN, LIMIT)
    log.handed("p1", OPEN + 6.0)  # the client stopped reading for 6 s
    assert log.window_start("p1") == OPEN + HANDOFF_SLACK_S
    assert log.close_at(LIMIT) == pytest.approx(OPEN + HANDOFF_SLACK_S + LIMIT)


# ---------------------------------------------------------------- a real actor
@asynccontextmanager
async def quiz_with(delays: dict[str, float]) -> AsyncIterator[tuple[Quiz, RecordingDelivery]]:
    """Host, Ann (p1) and Bob (p2) joined and started; hand-offs in ``delays`` come late."""
    async with trio.open_nursery() as background:
        delivery = RecordingDelivery(delays, background=background)
        quiz = Quiz(delivery)
        async with running(quiz.actor):
            await quiz.setup()
            yield quiz, delivery
        background.cancel_scope.cancel()


async def test_a_reader_that_stalls_gains_nothing_and_holds_nobody(autojump_clock):
    async with quiz_with({"p2": 5.0}) as (quiz, delivery):  # Bob's frame leaves 5 s late
        await quiz.at(6.0)  # Bob answers 1 s after his (late) hand-off
        answer(quiz.actor, "p2", quiz.bob, "q0", 0, id="bob")
        await settle()
        (bob,) = delivery.messages("p2", "answer_result")
        # Timed from open + slack, not from his own late hand-off.
        assert bob["payload"]["points"] == time_points(1000, 10000, round((6.0 - HANDOFF_SLACK_S) * 1000))
        await quiz.at(LIMIT + HANDOFF_SLACK_S + 1.0)
        assert delivery.broadcast_times("question_closed") == [pytest.approx(quiz.opened + LIMIT + HANDOFF_SLACK_S)]


async def test_a_player_handed_within_the_slack_keeps_its_whole_window(autojump_clock):
    async with quiz_with({"p2": 0.9}) as (quiz, delivery):
        await quiz.at(0.9 + 2.0)
        answer(quiz.actor, "p2", quiz.bob, "q0", 0)
        await settle()
        (bob,) = delivery.messages("p2", "answer_result")
        assert bob["payload"]["points"] == time_points(1000, 10000, 2000)
        await quiz.at(LIMIT + 2.0)
        assert delivery.broadcast_times("question_closed") == [pytest.approx(quiz.opened + 0.9 + LIMIT)]


async def test_the_hosts_late_handoff_never_moves_the_close(autojump_clock):
    async with quiz_with({"p2": STAGGER, "host": 0.8}) as (quiz, delivery):
        await quiz.at(LIMIT + 2.0)
        assert HOST_ID not in quiz.game.handoffs.times
        assert delivery.broadcast_times("question_closed") == [pytest.approx(quiz.opened + STAGGER + LIMIT)]


# ---------------------------------------------------------------- a remote gateway's reports
class FakeRelay:
    """Records what ``RemoteHandoffs`` posts and runs its tasks in a nursery."""

    def __init__(self, nursery: trio.Nursery) -> None:
        self.nursery = nursery
        self.posted: list[tuple[str, RelayMessage]] = []

    def post(self, node_id: str, message: RelayMessage) -> None:
        self.posted.append((node_id, message))

    def start_soon(self, task: Callable[[], Awaitable[None]]) -> None:
        self.nursery.start_soon(task)


async def test_queued_handoffs_are_reported_when_written_and_batched(autojump_clock):
    async with trio.open_nursery() as nursery:
        relay = FakeRelay(nursery)
        log = RemoteHandoffs("quiz", "q0", "owner-node", relay)
        log.handed("p1", trio.current_time())  # went straight out in the fan-out
        log.handed(HOST_ID, trio.current_time())  # never reported
        log.flush()
        assert [(node, [pid for pid, _ in m.times]) for node, m in relay.posted] == [("owner-node", ["p1"])]
        await trio.sleep(2.0)
        for i in range(2, 200):  # frames that waited in their queues, written later
            log.handed(f"p{i}", trio.current_time())
            log.handed("p1", trio.current_time())  # a second hand-off never counts
        await trio.sleep(REPORT_INTERVAL_S * 2)
        assert len(relay.posted) == 2  # one message for all of them, not one per player
        late = relay.posted[1][1]
        assert isinstance(late, HandoffTimes) and (late.quiz_id, late.question_id) == ("quiz", "q0")
        assert [pid for pid, _ in late.times] == [f"p{i}" for i in range(2, 200)]
        log.close()
        log.handed("p500", trio.current_time())
        await trio.sleep(REPORT_INTERVAL_S * 2)
        assert len(relay.posted) == 2
