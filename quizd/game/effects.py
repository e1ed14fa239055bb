"""What the quiz state machine asks the outside world to do.

The game core never sends anything itself (it is sans-IO); each event handler returns
a list of these effects and the actor carries them out through its delivery port.
Payloads are plain dicts ready for JSON, built once per effect: a ``Broadcast`` is
encoded once and the same bytes go to every connection.
"""

from __future__ import annotations

from typing import Any

import attrs


@attrs.frozen(slots=True)
class Reply:
    """One message to one participant (player or host)."""

    participant_id: str
    type: str
    payload: dict[str, Any]
    #: The ``id`` of the client message this answers; sent back as the wire's ``re``.
    reply_to: str | int | None = None


@attrs.frozen(slots=True)
class Broadcast:
    """One message to every connected participant of the quiz, host included.

    ``question_id`` marks a ``question`` frame whose hand-off time per participant
    must be recorded (the fair-timing rule); ``replaceable`` marks leaderboard frames
    that may replace an unsent older one in a connection's queue.
    """

    type: str
    payload: dict[str, Any]
    question_id: str | None = None
    replaceable: bool = False


@attrs.frozen(slots=True)
class Close:
    """Close a participant's current connection with a WebSocket close code."""

    participant_id: str
    code: int
    reason: str = ""


@attrs.frozen(slots=True)
class Finished:
    """The quiz has ended and its linger time is over: the actor may stop."""


@attrs.frozen(slots=True)
class ResultsReady:
    """The quiz ended: its final results may be written to ``results_dir``."""

    results: dict[str, Any]


Effect = Reply | Broadcast | Close | Finished | ResultsReady
