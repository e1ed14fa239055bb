"""A quiz's participants and their answers, and their plain-data snapshot records.

Kept apart from the state machine (``quiz.py``) because they are plain records: the
game decides what happens to them, this module only says what one holds and how it is
written to (and read back from) a snapshot.  Snapshot times are wall-clock milliseconds;
the caller passes the conversions, since only the game knows its clock's offset.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from quizd.game.names import name_key
from quizd.protocol.messages import Answer

if TYPE_CHECKING:
    from quizd.game.snapshot import Record  # the snapshot module builds on this one

HOST_ID = "host"

#: A reply correlation id as the client sent it (``id``), echoed back as ``re``.
ReplyTo = str | int | None


class AnswerRecord:
    """One participant's answer to one question, kept for safe retries and results."""

    __slots__ = ("answer", "received_at", "elapsed_ms", "reply_to", "result")

    def __init__(self, answer: Answer, received_at: float, elapsed_ms: int, reply_to: ReplyTo) -> None:
        self.answer = answer  # as sent (its fields were checked against the question)
        self.received_at = received_at
        self.elapsed_ms = elapsed_ms
        self.reply_to = reply_to
        # The answer_result payload once the answer was scored (None before, in on_close).
        self.result: dict[str, Any] | None = None

    def echo(self) -> dict[str, object]:
        """The answer echo object of the contract (``{"choice": 1}``, ``{"text": ...}``):
        what ``answer_result``, ``answer_accepted``, ``joined.question.answer`` and the
        stored answer events show of this answer."""
        return self.answer.echo()


def _stored_answer(answer: Answer) -> int | dict[str, object]:
    """An answer in a snapshot record: a bare ``choice`` stays the bare integer it always
    was (so nodes from before question kinds, in a rolling upgrade, still read it), any
    other answer is its echo object."""
    echo = answer.echo()
    return answer.choice if answer.choice is not None and len(echo) == 1 else echo


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
                qid: [_stored_answer(a.answer), wall_ms(a.received_at), a.elapsed_ms, a.reply_to, a.result]
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
        for qid, (given, received_wall, elapsed, reply_to, result) in record["answers"].items():
            sent = Answer(choice=given) if isinstance(given, int) else Answer.from_echo(given)
            answer = AnswerRecord(sent, monotonic(received_wall), elapsed, reply_to)
            answer.result = result
            p.answers[qid] = answer
        return p


_CURSOR = re.compile(r"[0-9]{1,15}")


class BadCursor(ValueError):
    """A ``get_players`` cursor this server never gave out."""


def join_number(pid: str) -> int:
    """A player's place in the join order: ``p17`` joined as the 17th (ids are never reused)."""
    return int(pid[1:])


class Roster:
    """Everyone in one quiz, found by id, resume token or name key, with the counts the
    rules check on every answer kept up to date incrementally (no scan of 10,000 players).

    It also remembers what changed since the snapshot store last looked (cluster mode):
    ``dirty`` participants to write and ``removed`` ones to delete.  ``dirty`` only holds
    participants still in; ``removed`` is kept only once a store looks
    (``track_removals``), since on a single node nobody drains it and it would grow with
    every player who ever left.
    """

    __slots__ = (
        "participants",
        "tokens",
        "name_keys",
        "players",
        "connected",
        "answered_connected",
        "next_pid",
        "dirty",
        "removed",
        "track_removals",
    )

    def __init__(self) -> None:
        self.participants: dict[str, Participant] = {}
        self.tokens: dict[str, str] = {}  # resume (or host) token -> participant id
        self.name_keys: dict[str, str] = {}  # name_key -> player id
        self.players = 0  # players, not the host
        self.connected = 0  # connected players
        self.answered_connected = 0  # connected players who answered the open question
        self.next_pid = 1
        self.dirty: set[str] = set()
        self.removed: set[str] = set()
        self.track_removals = False

    def new_pid(self) -> str:
        pid = f"p{self.next_pid}"
        self.next_pid += 1
        return pid

    def player_page(self, after: str | None, limit: int) -> tuple[list[Participant], str | None]:
        """Up to ``limit`` players who joined after the cursor ``after`` (None: from the
        first), in join order, and the cursor of the next page (None when this was the
        last).  The cursor is the join number of the page's last player, so a player who
        leaves between two pages moves nobody else across the page boundary."""
        if after is None:
            start = 0
        elif isinstance(after, str) and _CURSOR.fullmatch(after):
            start = int(after)
        else:
            raise BadCursor(after)
        candidates = (p for p in self.participants.values() if not p.is_host and join_number(p.id) > start)
        page = heapq.nsmallest(limit + 1, candidates, key=lambda p: join_number(p.id))
        if len(page) <= limit:
            return page, None
        del page[limit:]
        return page, str(join_number(page[-1].id))

    def by_token(self, token: str) -> Participant | None:
        pid = self.tokens.get(token)
        return None if pid is None else self.participants.get(pid)

    def add(self, p: Participant) -> None:
        """Take in a new (or restored) participant, disconnected."""
        self.participants[p.id] = p
        self.tokens[p.token] = p.id
        if not p.is_host:
            self.name_keys[p.key] = p.id
            self.players += 1

    def remove(self, p: Participant) -> None:
        """A player leaves for good (``leave`` or ``kick``); disconnect it first."""
        del self.participants[p.id]
        self.dirty.discard(p.id)
        if self.track_removals:
            self.removed.add(p.id)
        self.tokens.pop(p.token, None)
        self.name_keys.pop(p.key, None)
        self.players -= 1

    def set_connected(self, p: Participant, connected: bool, answered_open_question: bool) -> None:
        if p.connected == connected:
            return
        p.connected = connected
        if p.is_host:
            return
        step = 1 if connected else -1
        self.connected += step
        if answered_open_question:
            self.answered_connected += step
