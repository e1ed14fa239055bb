"""``LocalDelivery``: the actor's ``Delivery`` port backed by this node's connections.

A broadcast is framed once and the same bytes object is pushed to every session's
``OutboundStream``; a push is a non-blocking socket write, so the fan-out is a plain
loop with one checkpoint per ``FANOUT_CHUNK`` sessions (other tasks, such as readers
stamping answer arrival times, get to run during a 10,000-player fan-out).
``broadcast_pair`` sends a broadcast and the leaderboard that goes out with it in one
write per connection.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import trio

from quizd.actors.ports import Endpoint
from quizd.game.handoffs import HandoffLog, HandoffSink
from quizd.gateway.framing import text_frame
from quizd.ops import metrics
from quizd.protocol import errors as E

if TYPE_CHECKING:
    from quizd.gateway.session import Session

# About 1 ms of writes between two checkpoints: an answer that arrives during a fan-out
# to 5,000 players (a leaderboard, in the background) waits for one chunk, not the fan-out.
FANOUT_CHUNK = 128


def fan_out(
    recipients: list[tuple[str, Session]],
    frame: bytes,
    *,
    replaceable: bool = False,
    handoff: HandoffSink | None = None,
) -> int:
    """Push one prebuilt frame to each session (never blocks); how many took it."""
    delivered = 0
    for pid, session in recipients:
        if session.out.push(frame, replaceable=replaceable, handoff=handoff, participant_id=pid):
            delivered += 1
    return delivered


def count_delivered(msg_type: str, frame: bytes, delivered: int) -> None:
    metrics.count_sent(msg_type, delivered)
    metrics.BYTES_SENT.inc(len(frame) * delivered)


class LocalDelivery:
    def __init__(self, quiz_id: str) -> None:
        self.quiz_id = quiz_id
        self.sessions: dict[str, Session] = {}

    def bind(self, participant_id: str, endpoint: Endpoint) -> None:
        # Safe: only this node's gateway binds here, and its endpoints are Sessions; a
        # cluster's remote endpoints are ClusterDelivery's, which keeps them apart.
        session = cast("Session", endpoint)
        old = self.sessions.get(participant_id)
        self.sessions[participant_id] = session
        if old is not None and old is not session:
            old.close_soon(E.CLOSE_REPLACED, "replaced by a newer connection")

    def _registry(self, endpoint: object) -> dict[str, Any]:
        """Where ``endpoint``'s kind is kept (a cluster keeps remote endpoints apart)."""
        return self.sessions

    def is_current(self, participant_id: str, endpoint: object) -> bool:
        # == is identity for sessions, and value equality for a cluster's remote endpoints.
        return self._registry(endpoint).get(participant_id) == endpoint

    def unbind(self, participant_id: str, endpoint: object) -> bool:
        registry = self._registry(endpoint)
        if registry.get(participant_id) == endpoint:
            del registry[participant_id]
            return True
        return False

    def send(self, participant_id: str, msg_type: str, body: bytes) -> None:
        session = self.sessions.get(participant_id)
        if session is not None:
            session.send_body(msg_type, body)

    async def broadcast(
        self,
        msg_type: str,
        body: bytes,
        *,
        replaceable: bool = False,
        handoff: HandoffLog | None = None,
    ) -> None:
        frame = text_frame(body)
        recipients = list(self.sessions.items())
        delivered = 0
        for start in range(0, len(recipients), FANOUT_CHUNK):
            if start:
                await trio.lowlevel.checkpoint()
            delivered += fan_out(
                recipients[start : start + FANOUT_CHUNK], frame, replaceable=replaceable, handoff=handoff
            )
        count_delivered(msg_type, frame, delivered)

    async def broadcast_pair(self, msg_type: str, body: bytes, latest_type: str, latest_body: bytes) -> None:
        frame, latest = text_frame(body), text_frame(latest_body)
        both = frame + latest
        recipients = list(self.sessions.values())
        delivered = 0
        for start in range(0, len(recipients), FANOUT_CHUNK):
            if start:
                await trio.lowlevel.checkpoint()
            for session in recipients[start : start + FANOUT_CHUNK]:
                if session.out.push_pair(frame, latest, both):
                    delivered += 1
        count_delivered(msg_type, frame, delivered)
        count_delivered(latest_type, latest, delivered)

    def close(self, participant_id: str, code: int, reason: str) -> None:
        session = self.sessions.pop(participant_id, None)
        if session is not None:
            session.close_soon(code, reason)
