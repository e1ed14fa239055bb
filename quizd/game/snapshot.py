"""The plain-data form of a quiz snapshot: what a cluster stores so another node can take over.

``QuizGame`` decides when a snapshot is taken and what changed since the last one
(``to_snapshot``, ``take_changes``, ``from_snapshot``).  This module holds the form
itself: the record shapes and their version, how a game's fields become records
(``meta_record``, ``participant_record``) and how records become a game again
(``clock_shift``, ``restore_into``), and the definition's encoding.  The snapshot is incremental by design:
one small ``meta`` record for the quiz and one record per participant, so an answer
rewrites one participant's record, never the whole quiz.  Times are stored as
wall-clock milliseconds (monotonic clocks mean nothing on another node).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from quizd.convert import converter
from quizd.game.definitions import Kind, QuizDefinition
from quizd.game.handoffs import HandoffLog
from quizd.game.participants import Participant
from quizd.game.phase import Phase

if TYPE_CHECKING:
    from quizd.game.quiz import QuizGame

SNAPSHOT_VERSION = 1

#: One JSON-ready record (the quiz's ``meta``, or one participant).
Record = dict[str, Any]
#: A full snapshot: (meta, participant id -> record).
Snapshot = tuple[Record, dict[str, Record]]
#: What changed since the last write: (meta, changed participants, removed participant ids).
Changes = tuple[Record, dict[str, Record], list[str]]


def _structure_kind(value: Any, _type: type) -> Kind:
    # A StrEnum is a str, so the converter's strict str hook would keep the bare string.
    return Kind(value)


converter.register_structure_hook(Kind, _structure_kind)


def definition_record(definition: QuizDefinition) -> Record:
    record: Record = converter.unstructure(definition)
    return record


def definition_from_record(record: Record) -> QuizDefinition:
    return converter.structure(record, QuizDefinition)


def participant_record(game: QuizGame, p: Participant) -> Record:
    log = game.handoffs
    handoff = (log.question_id, log.times[p.id]) if log is not None and p.id in log.times else None
    return p.to_record(game.wall_ms, handoff)


def meta_record(game: QuizGame, now: float) -> Record:
    log = game.handoffs
    auto = game.auto_start
    return {
        "v": SNAPSHOT_VERSION,
        "quizId": game.quiz_id,
        "savedAt": game.wall_ms(now),
        "createdAt": game.wall_ms(game.created_at),
        "phase": game.phase,
        "deadline": None if game.deadline is None else game.wall_ms(game.deadline),
        "questionIndex": game.question_index,
        "startsAt": game.starts_at_ms,
        "openedAt": None if log is None else game.wall_ms(log.opened_at),
        "latest": None if log is None else game.wall_ms(log.latest),
        "distribution": list(game.distribution),
        "answered": game.answered_count,
        "closed": list(game.closed_questions),
        "reveal": game.last_reveal,
        "seq": game.seq,
        "nextPid": game.roster.next_pid,
        "hostToken": game.host_token,
        "autoStart": None if auto is None else [auto.min_players, auto.countdown_ms],
        "players": game.roster.players,
        "definitionId": game.definition.id,
        "correct": game.answers_correct,
        "wrong": game.answers_wrong,
    }


def clock_shift(meta: Record, now: float, wall_offset_ms: int) -> tuple[Callable[[int], float], int]:
    """How a restored quiz's stored wall times map onto this node's clock: every live
    time shifts by the outage (``now - savedAt``; none for an ended quiz), so no window
    shrank while nobody could take its answers.  (The mapping, and the shift in ms.)"""
    shift = max(0, round(now * 1000) + wall_offset_ms - meta["savedAt"]) if Phase(meta["phase"]) != Phase.ENDED else 0

    def mono(wall_ms: int) -> float:
        return (wall_ms + shift - wall_offset_ms) / 1000

    return mono, shift


def restore_into(
    game: QuizGame, meta: Record, participants: dict[str, Record], mono: Callable[[int], float], shift: int
) -> None:
    """Put the stored state into ``game``, newly made from ``meta`` (``QuizGame.from_snapshot``)."""
    game.phase = Phase(meta["phase"])
    game.deadline = None if meta["deadline"] is None else mono(meta["deadline"])
    game.question_index = meta["questionIndex"]
    game.starts_at_ms = None if meta["startsAt"] is None else meta["startsAt"] + shift
    game.distribution = list(meta["distribution"])
    game.answered_count = meta["answered"]
    game.closed_questions = list(meta["closed"])
    game.last_reveal = meta["reveal"]
    game.seq = meta["seq"]
    game.roster.next_pid = meta["nextPid"]
    game.answers_correct = meta.get("correct", 0)
    game.answers_wrong = meta.get("wrong", 0)
    if game.phase == Phase.QUESTION and game.question_index is not None:
        time_limit_s = game.definition.questions[game.question_index].time_limit_ms / 1000
        qid = game.question_id(game.question_index)
        game.handoffs = HandoffLog(qid, mono(meta["openedAt"]), time_limit_s)
    for pid, record in participants.items():  # the host's record replaces the new host
        p = Participant.from_record(pid, record, mono)
        game.roster.add(p)
        if not p.is_host:
            game.leaderboard.set(pid, p.name, p.score, p.reached)
        handoff = record.get("handoff")
        if game.handoffs is not None and handoff and handoff[0] == game.handoffs.question_id:
            game.handoffs.handed(pid, mono(handoff[1]))
