"""A gateway's hand-offs of one remote question, reported to the quiz's owner in batches.

The owner times each player from the moment its ``question`` frame reached its
socket.  On a gateway that moment is known only to the local ``OutboundStream``,
and not always when the broadcast is fanned out: a frame that had to wait behind
queued bytes is handed over later, when the drain writes it.  ``RemoteHandoffs`` is
the ``HandoffSink`` those streams stamp into for one question, whenever that
happens.  What went out at once is reported in one ``HandoffTimes`` right after the
fan-out (``flush``); later hand-offs are collected for ``REPORT_INTERVAL_S`` and
reported together, so a thousand slow sockets cost a few relay entries, never one
Redis write per player.  The owner's log caps every window anyway
(``HANDOFF_SLACK_S``), so a report that arrives late cannot stretch the question.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

import trio

from quizd.cluster.messages import HandoffTimes, RelayMessage
from quizd.cluster.transport import to_wall
from quizd.game.participants import HOST_ID

REPORT_INTERVAL_S = 0.05
"""How long late hand-offs of one question are collected before they are reported."""


class RelayPort(Protocol):
    """What ``RemoteHandoffs`` needs of the relay (``RelayTransport``)."""

    def post(self, node_id: str, message: RelayMessage) -> bool:
        """Queue ``message`` for ``node_id`` (the transport batches the writes); False when
        the relay's backlog is full."""

    def start_soon(self, task: Callable[[], Awaitable[None]]) -> None:
        """Run ``task`` beside the relay."""


class RemoteHandoffs:
    """One question's first hand-offs on this gateway, not yet reported to the owner."""

    __slots__ = ("quiz_id", "question_id", "owner", "_relay", "_seen", "_pending", "_scheduled", "_closed")

    def __init__(self, quiz_id: str, question_id: str, owner: str, relay: RelayPort) -> None:
        self.quiz_id = quiz_id
        self.question_id = question_id
        self.owner = owner
        self._relay = relay
        self._seen: set[str] = set()
        self._pending: list[tuple[str, int]] = []
        self._scheduled = False
        self._closed = False

    def handed(self, participant_id: str, at: float) -> None:
        """An outbound stream wrote the frame: keep the first time, report it soon
        (not the host's: it never answers, so its hand-off does not count)."""
        if self._closed or participant_id in self._seen or participant_id == HOST_ID:
            return
        self._seen.add(participant_id)
        self._pending.append((participant_id, to_wall(at)))
        if not self._scheduled:
            self._scheduled = True
            self._relay.start_soon(self._flush_later)

    def flush(self) -> None:
        """Report what is pending now, in one message."""
        if self._pending and not self._closed:
            times, self._pending = tuple(self._pending), []
            self._relay.post(self.owner, HandoffTimes(self.quiz_id, self.question_id, times))

    def close(self) -> None:
        """The question moved on (or its players left this gateway): report what is
        pending and ignore anything later."""
        self.flush()
        self._closed = True

    async def _flush_later(self) -> None:
        await trio.sleep(REPORT_INTERVAL_S)
        self._scheduled = False
        self.flush()
