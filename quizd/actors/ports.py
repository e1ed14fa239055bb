"""What a quiz actor needs from the outside world, as narrow interfaces (ports).

Actors never import trio_websocket or redis: they talk to a ``Delivery`` ("send these
bytes to this participant", "broadcast these bytes to everyone in my quiz") and to a
``ResultsSink`` ("keep these final results") and a ``RecordPort`` ("keep this fact",
the store's batch writer).  Single node, ``Delivery`` is the
gateway's table of local connections; in a cluster it is the relay.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, TypeAlias

from quizd.game.handoffs import HandoffLog
from quizd.store.events import StoreEvent

if TYPE_CHECKING:
    from quizd.game.quiz import QuizGame

#: A participant's connection as the actor sees it: opaque, compared with ``==``.  A
#: gateway ``Session`` on this node; in a cluster also a ``RemoteEndpoint(node, conn)``.
Endpoint: TypeAlias = object


class Delivery(Protocol):
    """The connections of one quiz, by participant id."""

    def bind(self, participant_id: str, endpoint: Endpoint) -> None:
        """Route ``participant_id`` to ``endpoint``; an older endpoint is closed with 4002."""

    def is_current(self, participant_id: str, endpoint: Endpoint) -> bool:
        """True when ``endpoint`` is the participant's current connection."""

    def unbind(self, participant_id: str, endpoint: Endpoint) -> bool:
        """Forget ``endpoint`` if it is still the current one; True if it was."""

    def send(self, participant_id: str, msg_type: str, body: bytes) -> None:
        """Queue one JSON message body for one participant (never blocks)."""

    async def broadcast(
        self,
        msg_type: str,
        body: bytes,
        *,
        replaceable: bool = False,
        handoff: HandoffLog | None = None,
    ) -> None:
        """Hand one JSON body to every connected participant, encoded once."""

    async def broadcast_pair(self, msg_type: str, body: bytes, latest_type: str, latest_body: bytes) -> None:
        """``broadcast(msg_type, body)``, then ``broadcast(latest_type, latest_body,
        replaceable=True)`` in the same write to each connection that can take it."""

    def close(self, participant_id: str, code: int, reason: str) -> None:
        """Close the participant's connection after what is queued for it."""


class ResultsSink(Protocol):
    async def write(self, quiz_id: str, results: dict[str, object]) -> None:
        """Persist an ended quiz's results (e.g. ``results_dir/<quizId>.json``)."""


class RecordPort(Protocol):
    """What an actor needs from the store: hand over one fact, without waiting.

    ``record`` buffers and returns at once (no await, no I/O): the database is never
    on the answer path (:class:`quizd.store.writer.BatchWriter`).
    """

    def record(self, event: StoreEvent) -> None: ...


class QuizLost(Exception):
    """This node may no longer run the quiz (cluster: its lease is gone).

    Not a crash: the supervisor does not restart the actor; its participants are
    told to resume (1012) wherever the quiz runs next.
    """


class CommitPort(Protocol):
    """Cluster mode: make the game's changes durable before anyone is told about them."""

    async def commit(self, game: QuizGame, events: int) -> None:
        """Write what changed (one round trip); raises when this node lost the quiz."""
