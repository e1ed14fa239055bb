"""The messages a quiz actor's inbox carries, and the one-shot reply slot.

Everything that changes a quiz goes through its inbox, so the actor's state is
touched by the actor's own task alone and needs no locks.
"""

from __future__ import annotations

import enum
from typing import Generic, TypeVar

import attrs
import trio

from quizd.actors.ports import Endpoint
from quizd.protocol.messages import ClientMessage

T = TypeVar("T")


class SlotState(enum.Enum):
    """Where a ``ReplySlot`` is in its life; each step happens at most once."""

    PENDING = "pending"  # posted, nobody decided yet
    CLAIMED = "claimed"  # the actor is deciding: the waiter must wait for the answer
    ABANDONED = "abandoned"  # the waiter gave up first: the actor must skip the item
    DONE = "done"  # answered (a value or an error)


class ReplyAbandoned(Exception):
    """``wait_or_abandon`` gave up before the actor claimed the item."""


class ReplySlot(Generic[T]):
    """A value (or an exception) that one task hands to another exactly once.

    A waiter that stops waiting and a late answer must not both happen: a ``join`` the
    gateway already refused with ``server_busy`` and that the actor then accepted left a
    player bound to a connection that did not know it had joined.  So the give-up and the
    decision are one atomic step each, on the single Trio thread: the actor ``claim()``s
    the slot when it starts deciding (and skips the item if that fails), the waiter
    ``abandon()``s it on its timeout (and waits on if that fails: the answer is coming).
    """

    __slots__ = ("_event", "_value", "_error", "_state")

    def __init__(self) -> None:
        self._event = trio.Event()
        self._value: T | None = None
        self._error: BaseException | None = None
        self._state = SlotState.PENDING

    @property
    def state(self) -> SlotState:
        return self._state

    def claim(self) -> bool:
        """The actor decides now: False if the waiter already gave up (skip the item)."""
        if self._state is SlotState.PENDING:
            self._state = SlotState.CLAIMED
        return self._state is not SlotState.ABANDONED

    def abandon(self) -> bool:
        """The waiter gives up: False if the actor already claimed (or answered) it."""
        if self._state is SlotState.PENDING:
            self._state = SlotState.ABANDONED
            return True
        return self._state is SlotState.ABANDONED

    def set(self, value: T) -> None:
        if not self._event.is_set():
            self._value = value
            self._state = SlotState.DONE
            self._event.set()

    def fail(self, error: BaseException) -> None:
        if not self._event.is_set():
            self._error = error
            self._state = SlotState.DONE
            self._event.set()

    async def wait(self) -> T:
        await self._event.wait()
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]

    async def wait_or_abandon(self, timeout: float) -> T:
        """The answer; ``ReplyAbandoned`` if nobody claimed the slot within ``timeout``.
        Once claimed, it waits for the answer however long it takes (the claimer
        answers every claimed slot, also when it stops)."""
        with trio.move_on_after(timeout):
            return await self.wait()
        if self.abandon():
            raise ReplyAbandoned
        return await self.wait()


@attrs.frozen(slots=True, eq=False)
class JoinRequest:
    """``join`` from a connection: as a new player (``name``), a resume or the host."""

    kind: str  # "player" | "resume" | "host"
    value: str | None  # the name or token; None: a player join asking for a generated name
    reply_to: str | int | None  # the join's ``id``, echoed as ``re``
    endpoint: Endpoint
    received_at: float
    reply: ReplySlot[str] = attrs.field(factory=ReplySlot)


@attrs.frozen(slots=True, eq=False)
class Command:
    """Any message of a joined participant (answer, host command, leave, ...)."""

    participant_id: str
    endpoint: Endpoint
    message: ClientMessage
    received_at: float


@attrs.frozen(slots=True, eq=False)
class ConnectionLost:
    participant_id: str
    endpoint: Endpoint


@attrs.frozen(slots=True, eq=False)
class UndoJoin:
    """Cluster: a join this actor accepted reached its gateway too late (the gateway had
    answered ``server_busy``, or the connection had closed): unbind ``endpoint``, and
    remove a ``new_player`` (whose client never learnt it joined) or disconnect a
    resumed player or host, so no ghost keeps a name or counts as connected."""

    participant_id: str
    endpoint: Endpoint
    new_player: bool


@attrs.frozen(slots=True, eq=False)
class EndNow:
    """End the quiz (HTTP ``end``, node drain); replies when the end went out."""

    reason: str
    reply: ReplySlot[None] = attrs.field(factory=ReplySlot)


@attrs.frozen(slots=True, eq=False)
class HandOver:
    """Cluster: make everything durable, send every participant to the next owner, stop."""

    reason: str
    reply: ReplySlot[None] = attrs.field(factory=ReplySlot)


@attrs.frozen(slots=True, eq=False)
class Flush:
    """Commit now even if nothing changed (the cluster store must be rewritten)."""


@attrs.frozen(slots=True, eq=False)
class HandoffReport:
    """Cluster: when another node's gateway handed ``question_id`` to its players.

    The owner's own connections stamp the hand-off log directly (their outbound
    stream knows the moment); remote gateways report theirs in one message per
    broadcast, and the actor records them in its game like any other event.
    """

    question_id: str
    times: tuple[tuple[str, float], ...]  # (participant id, Trio clock instant)


InboxItem = JoinRequest | Command | ConnectionLost | EndNow | HandOver | Flush | HandoffReport | UndoJoin
