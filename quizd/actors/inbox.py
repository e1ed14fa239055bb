"""The messages a quiz actor's inbox carries, and the one-shot reply slot.

Everything that changes a quiz goes through its inbox, so the actor's state is
touched by the actor's own task alone and needs no locks.
"""

from __future__ import annotations

from typing import Generic, TypeVar

import attrs
import trio

from quizd.actors.ports import Endpoint
from quizd.protocol.messages import ClientMessage

T = TypeVar("T")


class ReplySlot(Generic[T]):
    """A value (or an exception) that one task hands to another exactly once."""

    __slots__ = ("_event", "_value", "_error")

    def __init__(self) -> None:
        self._event = trio.Event()
        self._value: T | None = None
        self._error: BaseException | None = None

    def set(self, value: T) -> None:
        if not self._event.is_set():
            self._value = value
            self._event.set()

    def fail(self, error: BaseException) -> None:
        if not self._event.is_set():
            self._error = error
            self._event.set()

    async def wait(self) -> T:
        await self._event.wait()
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]


@attrs.frozen(slots=True, eq=False)
class JoinRequest:
    """``join`` from a connection: as a new player (``name``), a resume or the host."""

    kind: str  # "player" | "resume" | "host"
    value: str
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


InboxItem = JoinRequest | Command | ConnectionLost | EndNow | HandOver | Flush | HandoffReport
