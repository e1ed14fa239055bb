"""``LocalDelivery``: the actor's ``Delivery`` port over this node's sessions.

The sessions are stand-ins that record what reaches them: the port's job is which
session gets what (by participant id), not the socket writes (tests/unit/test_outbound.py).
"""

from __future__ import annotations

from typing import Any

import pytest
import trio

from quizd.game.handoffs import HandoffLog
from quizd.gateway import delivery as delivery_module
from quizd.gateway.delivery import FANOUT_CHUNK, LocalDelivery
from quizd.gateway.framing import text_frame
from quizd.protocol import errors as E


class RecordingOut:
    """An ``OutboundStream`` stand-in: keeps each push; a closed one refuses."""

    def __init__(self) -> None:
        self.pushed: list[tuple[bytes, dict[str, Any]]] = []
        self.closed = False

    def push(self, frame: bytes, **options: Any) -> bool:
        if self.closed:
            return False
        self.pushed.append((frame, options))
        return True


class FakeSession:
    def __init__(self, name: str, *, is_host: bool = False) -> None:
        self.name = name
        self.is_host = is_host
        self.out = RecordingOut()
        self.bodies: list[tuple[str, bytes]] = []
        self.closes: list[tuple[int, str]] = []

    def send_body(self, msg_type: str, body: bytes) -> None:
        self.bodies.append((msg_type, body))

    def close_soon(self, code: int, reason: str) -> None:
        self.closes.append((code, reason))


@pytest.fixture
def delivery() -> LocalDelivery:
    return LocalDelivery("quiz-1")


def bound(delivery: LocalDelivery, *names: str) -> list[FakeSession]:
    sessions = [FakeSession(name) for name in names]
    for session in sessions:
        delivery.bind(session.name, session)  # type: ignore[arg-type]
    return sessions


def test_send_reaches_only_the_bound_participant(delivery: LocalDelivery) -> None:
    ann, bob = bound(delivery, "ann", "bob")
    delivery.send("ann", "answer_result", b'{"type":"answer_result"}')
    assert ann.bodies == [("answer_result", b'{"type":"answer_result"}')]
    assert bob.bodies == []
    delivery.send("nobody", "answer_result", b"{}")  # not bound here: dropped, no error


def test_a_newer_connection_replaces_the_older_one(delivery: LocalDelivery) -> None:
    (old,) = bound(delivery, "ann")
    new = FakeSession("ann")
    delivery.bind("ann", new)  # type: ignore[arg-type]
    assert old.closes == [(E.CLOSE_REPLACED, "replaced by a newer connection")]
    assert new.closes == []
    assert delivery.is_current("ann", new) and not delivery.is_current("ann", old)
    delivery.send("ann", "pong", b"{}")
    assert new.bodies == [("pong", b"{}")] and old.bodies == []


def test_binding_the_same_connection_again_does_not_close_it(delivery: LocalDelivery) -> None:
    (ann,) = bound(delivery, "ann")
    delivery.bind("ann", ann)  # type: ignore[arg-type]
    assert ann.closes == []
    assert delivery.is_current("ann", ann)


def test_unbind_only_removes_the_current_connection(delivery: LocalDelivery) -> None:
    (old,) = bound(delivery, "ann")
    new = FakeSession("ann")
    delivery.bind("ann", new)  # type: ignore[arg-type]
    # The replaced connection's late goodbye must not unbind its successor.
    assert delivery.unbind("ann", old) is False
    assert delivery.is_current("ann", new)
    assert delivery.unbind("ann", new) is True
    assert not delivery.is_current("ann", new)
    assert delivery.unbind("ann", new) is False
    delivery.send("ann", "pong", b"{}")
    assert new.bodies == []


def test_close_closes_and_forgets_the_participant(delivery: LocalDelivery) -> None:
    ann, bob = bound(delivery, "ann", "bob")
    delivery.close("ann", E.CLOSE_REPLACED, "bye")
    assert ann.closes == [(E.CLOSE_REPLACED, "bye")]
    assert not delivery.is_current("ann", ann)
    assert bob.closes == [] and delivery.is_current("bob", bob)
    delivery.close("ann", E.CLOSE_REPLACED, "again")  # already gone: nothing happens
    assert ann.closes == [(E.CLOSE_REPLACED, "bye")]


async def test_broadcast_pushes_one_frame_object_to_every_session(delivery: LocalDelivery) -> None:
    sessions = bound(delivery, "host", "ann", "bob")
    handoff = HandoffLog("q1", opened_at=0.0, time_limit_s=10)
    body = b'{"type":"question"}'
    await delivery.broadcast("question", body, replaceable=False, handoff=handoff)
    frames = [s.out.pushed[0][0] for s in sessions]
    assert frames[0] == text_frame(body)
    assert all(f is frames[0] for f in frames)  # framed once, the same bytes for all
    for session in sessions:
        [(_, options)] = session.out.pushed
        # Each push names its participant, so the hand-off is stamped per player.
        assert options == {"replaceable": False, "handoff": handoff, "participant_id": session.name}


async def test_broadcast_passes_replaceable_for_leaderboards(delivery: LocalDelivery) -> None:
    (ann,) = bound(delivery, "ann")
    await delivery.broadcast("leaderboard", b'{"type":"leaderboard"}', replaceable=True)
    assert ann.out.pushed[0][1]["replaceable"] is True
    assert ann.out.pushed[0][1]["handoff"] is None


async def test_broadcast_counts_only_the_sessions_that_took_the_frame(
    delivery: LocalDelivery, monkeypatch: pytest.MonkeyPatch
) -> None:
    ann, bob = bound(delivery, "ann", "bob")
    bob.out.closed = True
    counted: list[tuple[str, int]] = []
    monkeypatch.setattr(delivery_module, "count_delivered", lambda t, frame, n: counted.append((t, n)))
    await delivery.broadcast("participants", b"{}")
    assert counted == [("participants", 1)]
    assert len(ann.out.pushed) == 1 and bob.out.pushed == []


async def test_a_large_broadcast_lets_other_tasks_run_between_chunks(delivery: LocalDelivery) -> None:
    sessions = bound(delivery, *(f"p{i}" for i in range(2 * FANOUT_CHUNK + 1)))
    seen: list[int] = []

    async def observer() -> None:
        seen.append(sum(len(s.out.pushed) for s in sessions))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(observer)
        await delivery.broadcast("question", b"{}")
    # The observer ran at a checkpoint between chunks, before the last one was pushed
    # (which of the first two depends on Trio's randomised scheduling order).
    assert seen in ([FANOUT_CHUNK], [2 * FANOUT_CHUNK])
    assert all(len(s.out.pushed) == 1 for s in sessions)


async def test_a_broadcast_to_nobody_is_fine(delivery: LocalDelivery) -> None:
    await delivery.broadcast("leaderboard", b"{}", replaceable=True)
