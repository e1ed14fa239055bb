"""Where a quiz lives: the router maps a quiz id to a handle its messages go to.

The gateway and the control plane only ever ask the router; they never look at actors
directly.  A single node answers from its own supervisor.  The cluster plugs in here:
its router (``quizd.cluster.manager.ClusterRouter``) reads the quiz's lease in Redis
and returns a handle that relays the same inbox items to the lease holder.
"""

from __future__ import annotations

from typing import Protocol

from quizd.actors.inbox import InboxItem
from quizd.actors.supervisor import Supervisor


class QuizHandle(Protocol):
    quiz_id: str

    def post(self, item: InboxItem) -> None:
        """Queue an inbox item for the quiz; raises ``ProtocolError`` when it cannot."""


class Router(Protocol):
    async def lookup(self, quiz_id: str) -> QuizHandle | None:
        """The quiz's handle, None when no such quiz exists; may raise ``ProtocolError``
        (``server_busy`` while a cluster moves the quiz)."""


class LocalRouter:
    """Single node: every quiz is an actor of this process."""

    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor

    async def lookup(self, quiz_id: str) -> QuizHandle | None:
        return self.supervisor.actors.get(quiz_id)
