"""A quiz's participants and their answers, and their plain-data snapshot records.

Kept apart from the state machine (``quiz.py``) because they are plain records: the
game decides what happens to them, this module only says what one holds and how it is
written to (and read back from) a snapshot.  Snapshot times are wall-clock milliseconds;
the caller passes the conversions, since only the game knows its clock's offset.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from quizd.game.names import name_key
from quizd.game.snapshot import Record

HOST_ID = "host"

#: A reply correlation id as the client sent it (``id``), echoed back as ``re``.
ReplyTo = str | int | None


class AnswerRecord:
    """One participant's answer to one question, kept for safe retries and results."""

    __slots__ = ("choice", "received_at", "elapsed_ms", "reply_to", "result")

    def __init__(self, choice: int, received_at: float, elapsed_ms: int, reply_to: ReplyTo) -> None:
        self.choice = choice
        self.received_at = received_at
        self.elapsed_ms = elapsed_ms
        self.reply_to = reply_to
        # The answer_result payload once the answer was scored (None before, in on_close).
        self.result: dict[str, Any] | None = None


class Participant:
    """The host or one player: identity, credentials, score and answers."""

    __slots__ = ("id", "name", "key", "token", "is_host", "score", "streak", "reached", "connected", "answers")

    def __init__(self, pid: str, name: str, token: str, is_host: bool, reached: int) -> None:
        self.id = pid
        self.name = name
        self.key = name_key(name)
        self.token = token
        self.is_host = is_host
        self.score = 0
        self.streak = 0
        self.reached = reached
        self.connected = False
        self.answers: dict[str, AnswerRecord] = {}  # question id -> this player's answer

    def to_record(self, wall_ms: Callable[[float], int], handoff: tuple[str, float] | None) -> Record:
        """This participant as a snapshot record; ``handoff`` is (question id, time) if any."""
        record: Record = {
            "name": self.name,
            "token": self.token,
            "host": self.is_host,
            "score": self.score,
            "streak": self.streak,
            "reached": self.reached,
            "answers": {
                qid: [a.choice, wall_ms(a.received_at), a.elapsed_ms, a.reply_to, a.result]
                for qid, a in self.answers.items()
            },
        }
        if handoff is not None:
            record["handoff"] = [handoff[0], wall_ms(handoff[1])]
        return record

    @classmethod
    def from_record(cls, pid: str, record: Record, monotonic: Callable[[int], float]) -> Participant:
        """The participant a snapshot record describes, its times on this node's clock."""
        p = cls(pid, record["name"], record["token"], record["host"], record["reached"])
        p.score = record["score"]
        p.streak = record["streak"]
        for qid, (choice, received_wall, elapsed, reply_to, result) in record["answers"].items():
            answer = AnswerRecord(choice, monotonic(received_wall), elapsed, reply_to)
            answer.result = result
            p.answers[qid] = answer
        return p
