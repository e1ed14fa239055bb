"""A quiz as plain data, and back: what a cluster stores so another node can take over.

Sans-IO like the rest of the game: these functions turn a ``QuizGame`` into JSON-ready
dicts and rebuild one from them.  The snapshot is incremental by design: one small
``meta`` record for the quiz and one record per participant, so an answer rewrites
one participant's record, never the whole quiz.

Times are stored as wall-clock milliseconds (monotonic clocks mean nothing on another
node).  A restore shifts every live time by the outage (``now - savedAt``): the clock of
a quiz is frozen while nobody runs it, so the question continues with the time that
was left and no player's window shrank while its answers could not be taken.
"""

from __future__ import annotations

from typing import Any

from quizd.convert import converter
from quizd.game.definitions import QuizDefinition
from quizd.game.handoffs import HandoffLog
from quizd.game.quiz import (
    ENDED,
    HOST_ID,
    QUESTION,
    AnswerRecord,
    AutoStart,
    GameSettings,
    Participant,
    QuizGame,
)

SNAPSHOT_VERSION = 1


def definition_record(definition: QuizDefinition) -> dict[str, Any]:
    return converter.unstructure(definition)


def definition_from_record(record: dict[str, Any]) -> QuizDefinition:
    return converter.structure(record, QuizDefinition)


def participant_record(game: QuizGame, p: Participant) -> dict[str, Any]:
    record: dict[str, Any] = {
        "name": p.name,
        "token": p.token,
        "host": p.is_host,
        "score": p.score,
        "streak": p.streak,
        "reached": p.reached,
        "answers": {
            qid: [a.choice, game.wall_ms(a.received_at), a.elapsed_ms, a.re, a.result]
            for qid, a in p.answers.items()
        },
    }
    log = game.handoffs
    if log is not None and p.id in log.times:
        record["handoff"] = [log.question_id, game.wall_ms(log.times[p.id])]
    return record


def meta_record(game: QuizGame, now: float) -> dict[str, Any]:
    log = game.handoffs
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
        "seq": game._seq,
        "nextPid": game._next_pid,
        "hostToken": game.host_token,
        "autoStart": None if game.auto_start is None else [game.auto_start.min_players, game.auto_start.countdown_ms],
        "players": game.player_count,
        "definitionId": game.definition.id,
        "correct": game.answers_correct,
        "wrong": game.answers_wrong,
    }


def restore_game(
    definition: QuizDefinition,
    settings: GameSettings,
    meta: dict[str, Any],
    participants: dict[str, dict[str, Any]],
    now: float,
    wall_offset_ms: int,
) -> QuizGame:
    """Rebuild a quiz on this node, its clock frozen for the time nobody ran it."""
    now_wall = round(now * 1000) + wall_offset_ms
    shift = max(0, now_wall - meta["savedAt"]) if meta["phase"] != ENDED else 0

    def mono(wall_ms: int | None) -> float | None:
        return None if wall_ms is None else (wall_ms + shift - wall_offset_ms) / 1000

    auto = meta.get("autoStart")
    game = QuizGame(
        meta["quizId"],
        definition,
        settings,
        mono(meta["createdAt"]) or now,
        wall_offset_ms=wall_offset_ms,
        host_token=meta["hostToken"],
        auto_start=None if auto is None else AutoStart(auto[0], auto[1]),
    )
    game.participants.clear()
    game.tokens.clear()
    game.phase = meta["phase"]
    game.deadline = mono(meta["deadline"])
    game.question_index = meta["questionIndex"]
    game.starts_at_ms = None if meta["startsAt"] is None else meta["startsAt"] + shift
    game.distribution = list(meta["distribution"])
    game.answered_count = meta["answered"]
    game.closed_questions = list(meta["closed"])
    game.last_reveal = meta["reveal"]
    game._seq = meta["seq"]
    game._next_pid = meta["nextPid"]
    game.answers_correct = meta.get("correct", 0)
    game.answers_wrong = meta.get("wrong", 0)
    if game.phase == QUESTION and game.question_index is not None:
        question = definition.questions[game.question_index]
        opened = mono(meta["openedAt"])
        assert opened is not None
        log = HandoffLog(game.question_id(game.question_index), opened, question.time_limit_ms / 1000)
        game.handoffs = log
    players = 0
    for pid, record in participants.items():
        p = Participant(pid, record["name"], record["token"], record["host"], record["reached"])
        p.score = record["score"]
        p.streak = record["streak"]
        for qid, (choice, received_wall, elapsed, re, result) in record["answers"].items():
            answer = AnswerRecord(choice, mono(received_wall) or now, elapsed, re)
            answer.result = result
            p.answers[qid] = answer
        game.participants[pid] = p
        game.tokens[p.token] = pid
        if not p.is_host:
            players += 1
            game.name_keys[p.key] = pid
            game.leaderboard.set(pid, p.name, p.score, p.reached)
        handoff = record.get("handoff")
        if game.handoffs is not None and handoff and handoff[0] == game.handoffs.question_id:
            at = mono(handoff[1])
            assert at is not None
            game.handoffs.handed(pid, at)
    if HOST_ID not in game.participants:  # defensive: a snapshot always has its host
        host = Participant(HOST_ID, "host", game.host_token, True, 0)
        game.participants[HOST_ID] = host
        game.tokens[game.host_token] = HOST_ID
    game._players = players
    game._throttle_at = now
    if game.handoffs is not None:
        game.handoffs.fresh.clear()
    game.dirty.clear()
    game.removed.clear()
    return game


def take_changes(game: QuizGame, now: float) -> tuple[dict[str, Any], dict[str, dict[str, Any]], list[str]]:
    """What to write since the last call: (meta, changed participants, removed ids)."""
    if game.handoffs is not None and game.handoffs.fresh:
        game.dirty.update(pid for pid in game.handoffs.fresh if pid in game.participants)
        game.handoffs.fresh.clear()
    changed = {pid: participant_record(game, game.participants[pid]) for pid in game.dirty if pid in game.participants}
    removed = list(game.removed)
    game.dirty.clear()
    game.removed.clear()
    return meta_record(game, now), changed, removed


def full_snapshot(game: QuizGame, now: float) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Everything, for the first write of a quiz (and for tests)."""
    game.dirty.clear()
    game.removed.clear()
    if game.handoffs is not None:
        game.handoffs.fresh.clear()
    participants = {pid: participant_record(game, p) for pid, p in game.participants.items()}
    return meta_record(game, now), participants
