"""A recording ``Delivery`` and helpers to drive a real ``QuizActor`` (not a test module)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import orjson
import trio
import trio.testing

from quizd.actors.actor import QuizActor
from quizd.actors.inbox import Command, JoinRequest
from quizd.game.handoffs import HandoffLog
from quizd.protocol.messages import AnswerPayload, ClientMessage, EmptyPayload, NextPayload


class Endpoint:
    """Stands for one connection."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<Endpoint {self.name}>"


class RecordingDelivery:
    """Implements quizd.actors.ports.Delivery and records what goes out, with times.

    ``handoff_delays`` injects hand-off times for ``question`` broadcasts: each listed
    participant's frame is handed ``delay`` seconds after the broadcast started (the
    broadcast itself waits, like a long fan-out).  Unlisted connected participants are
    handed at once.
    """

    def __init__(
        self,
        handoff_delays: dict[str, float] | None = None,
        *,
        background: trio.Nursery | None = None,
        broadcast_delay: Callable[[str, float], float] | None = None,
    ) -> None:
        self.handoff_delays = handoff_delays or {}
        # ``broadcast_delay(type, now)``: how long a broadcast's fan-out takes (default 0).
        self.broadcast_delay = broadcast_delay
        # With a nursery, delayed hand-offs happen after ``broadcast`` returned (like a
        # connection's queue draining later) instead of inside it.
        self.background = background
        self.endpoints: dict[str, Any] = {}
        self.sent: list[tuple[float, str, dict[str, Any]]] = []  # (time, pid, message)
        self.broadcasts: list[tuple[float, dict[str, Any]]] = []  # (time, message)
        self.closed: list[tuple[float, str, int]] = []
        self.replaced: list[Any] = []
        self.pairs: list[tuple[str, str]] = []  # (type, latest type) of each broadcast_pair

    # ---- the port
    def bind(self, participant_id: str, endpoint: Any) -> None:
        old = self.endpoints.get(participant_id)
        if old is not None and old is not endpoint:
            self.replaced.append(old)
        self.endpoints[participant_id] = endpoint

    def is_current(self, participant_id: str, endpoint: Any) -> bool:
        return self.endpoints.get(participant_id) is endpoint

    def unbind(self, participant_id: str, endpoint: Any) -> bool:
        if self.endpoints.get(participant_id) is endpoint:
            del self.endpoints[participant_id]
            return True
        return False

    def send(self, participant_id: str, msg_type: str, body: bytes) -> None:
        if participant_id in self.endpoints:
            self.sent.append((trio.current_time(), participant_id, orjson.loads(body)))

    async def broadcast(
        self,
        msg_type: str,
        body: bytes,
        *,
        replaceable: bool = False,
        handoff: HandoffLog | None = None,
    ) -> None:
        started = trio.current_time()
        self.broadcasts.append((started, orjson.loads(body)))
        if self.broadcast_delay is not None:
            delay = self.broadcast_delay(msg_type, started)
            if delay:
                await trio.sleep(delay)
        if handoff is None:
            return
        now_pids = [pid for pid in self.endpoints if pid not in self.handoff_delays and pid != "host"]
        for pid in now_pids:
            handoff.handed(pid, trio.current_time())
        if self.background is not None:
            self.background.start_soon(self._hand_off_later, handoff, started)
        else:
            await self._hand_off_later(handoff, started)

    async def broadcast_pair(self, msg_type: str, body: bytes, latest_type: str, latest_body: bytes) -> None:
        """Recorded as the two broadcasts it stands for (one write each per player)."""
        self.pairs.append((msg_type, latest_type))
        await self.broadcast(msg_type, body)
        await self.broadcast(latest_type, latest_body, replaceable=True)

    async def _hand_off_later(self, handoff: HandoffLog, started: float) -> None:
        for pid, delay in sorted(self.handoff_delays.items(), key=lambda kv: kv[1]):
            await trio.sleep_until(started + delay)
            if pid in self.endpoints:
                handoff.handed(pid, trio.current_time())

    def close(self, participant_id: str, code: int, reason: str) -> None:
        self.closed.append((trio.current_time(), participant_id, code))
        self.endpoints.pop(participant_id, None)

    # ---- queries
    def messages(self, pid: str, type: str | None = None) -> list[dict[str, Any]]:
        return [m for _t, p, m in self.sent if p == pid and (type is None or m["type"] == type)]

    def timed(self, pid: str, type: str) -> list[tuple[float, dict[str, Any]]]:
        return [(t, m) for t, p, m in self.sent if p == pid and m["type"] == type]

    def broadcast_times(self, type: str) -> list[float]:
        return [t for t, m in self.broadcasts if m["type"] == type]

    def broadcasts_of(self, type: str) -> list[dict[str, Any]]:
        return [m for _t, m in self.broadcasts if m["type"] == type]


async def join(actor: QuizActor, kind: str, value: str, endpoint: Any, reply_to: Any = None) -> str:
    """Post a join and wait for the participant id (raises the ProtocolError if refused)."""
    req = JoinRequest(kind, value, reply_to, endpoint, trio.current_time())
    actor.post(req)
    return await req.reply.wait()


def command(actor: QuizActor, pid: str, endpoint: Any, type: str, payload: Any = None, id: Any = None) -> None:
    msg = ClientMessage(type, EmptyPayload() if payload is None else payload, id)
    actor.post(Command(pid, endpoint, msg, trio.current_time()))


def answer(actor: QuizActor, pid: str, endpoint: Any, question_id: str, choice: int, id: Any = None) -> None:
    command(actor, pid, endpoint, "answer", AnswerPayload(question_id, choice), id)


def next_question(actor: QuizActor, endpoint: Any, index: int | None = None, id: Any = None) -> None:
    command(actor, "host", endpoint, "next", NextPayload(index), id)


async def settle() -> None:
    """Let every task run until all are blocked, without moving the (autojump) clock."""
    await trio.testing.wait_all_tasks_blocked()


@asynccontextmanager
async def running(*actors: QuizActor) -> AsyncIterator[trio.Nursery]:
    async with trio.open_nursery() as nursery:
        for actor in actors:
            await nursery.start(actor.run)
        yield nursery
        nursery.cancel_scope.cancel()
