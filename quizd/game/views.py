"""The wire payloads of a quiz, built from its state.

``QuizGame`` keeps the state and the rules; this module spells what the contract
(protocol.md) shows of that state: the camelCase dicts of ``joined``, ``question``,
``question_closed``, ``answer_result``, ``host_state``, ``leaderboard``, ``quiz_ended``
and the control plane's summary and results.  Keeping them here means a wire field is
renamed in one place and a rule is changed without reading JSON shapes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from quizd.game.phase import Phase

if TYPE_CHECKING:
    from quizd.game.definitions import Question
    from quizd.game.participants import AnswerRecord, Participant
    from quizd.game.quiz import QuizGame

Payload = dict[str, Any]

#: The most players one message lists (``joined.players``, ``players``): under 80 KiB even
#: with 24 four-byte characters in every name, so no frame grows with the size of the quiz
#: and the host's page always fits its connection's send queue.
PLAYER_PAGE = 500


def summary(game: QuizGame) -> Payload:
    """One quiz in the control plane's list and describe answers."""
    return {
        "quizId": game.quiz_id,
        "definitionId": game.definition.id,
        "phase": game.phase,
        "questionIndex": game.question_index,
        "participants": game.player_count,
    }


def results(game: QuizGame) -> Payload:
    """The final (or so far) results: the whole leaderboard and every closed question."""
    return {
        "quizId": game.quiz_id,
        "definitionId": game.definition.id,
        "phase": game.phase,
        "leaderboard": list(game.leaderboard.iter_entries()),
        "questions": list(game.closed_questions),
    }


def you(game: QuizGame, pid: str) -> Payload:
    return {"rank": game.leaderboard.rank(pid), "score": game.participants[pid].score}


def participant_ref(p: Participant) -> Payload:
    """Who joined or left, as the host's ``player_joined`` / ``player_left`` name them."""
    return {"participantId": p.id, "name": p.name}


def kicked() -> Payload:
    return {"reason": "removed by the host"}


def quiz_starting(starts_at_ms: int, countdown_ms: int) -> Payload:
    return {"startsAt": starts_at_ms, "countdownMs": countdown_ms}


def participants(count: int) -> Payload:
    return {"count": count}


def leaderboard(game: QuizGame, pid: str | None = None) -> Payload:
    """The top entries and the total; with ``pid``, that player's own rank and score."""
    payload: Payload = {"top": game.leaderboard.top(game.settings.top_n), "total": len(game.leaderboard)}
    if pid is not None:
        payload["you"] = you(game, pid)
    return payload


def quiz_ended(top: list[dict[str, object]], total: int, own: Payload | None = None) -> Payload:
    """The last leaderboard (``top`` is built once for everyone); a player's adds ``you``."""
    payload: Payload = {"leaderboard": top, "total": total}
    if own is not None:
        payload["you"] = own
    return payload


def host_state(game: QuizGame) -> Payload:
    return {
        "phase": game.phase,
        "questionIndex": game.question_index,
        "participants": game.player_count,
        "connected": game.connected_count,
        "answered": game.answered_count if game.phase in (Phase.QUESTION, Phase.REVEAL) else 0,
    }


def question(game: QuizGame, now: float) -> Payload:
    """The open question, with its window in wall-clock milliseconds, its ``kind`` and
    what its kind adds (``pick``, ``maxLength``, ``min``/``max``/``step``, ``scored``)."""
    assert game.question_index is not None and game.handoffs is not None
    q = game.definition.questions[game.question_index]
    started = game.wall_ms(game.handoffs.opened_at)
    return {
        "questionId": game.question_id(game.question_index),
        "index": game.question_index,
        "total": game.definition.question_count,
        "text": q.text,
        "choices": list(q.choices),
        "timeLimitMs": q.time_limit_ms,
        "startedAt": started,
        "endsAt": started + q.time_limit_ms,
        "serverTime": game.wall_ms(now),
        "kind": q.kind.value,
        **game.rules[game.question_index].question_fields(),
    }


def answer_accepted(question_id: str, record: AnswerRecord) -> Payload:
    return {"questionId": question_id, **record.echo()}


def answer_result(
    question_id: str, record: AnswerRecord, correct: bool | None, points: int, p: Participant, rank: int
) -> Payload:
    """The verdict on one answer, echoing it as sent; ``correct`` is None for a poll."""
    return {
        "questionId": question_id,
        **record.echo(),
        "correct": correct,
        "points": points,
        "score": p.score,
        "streak": p.streak,
        "rank": rank,
    }


def question_closed(question_id: str, question: Question, kind_fields: Payload) -> Payload:
    """The reveal: the kind's fields (``KindRules.closed_fields``) and the explanation."""
    payload: Payload = {"questionId": question_id, **kind_fields}
    if question.explanation is not None:
        payload["explanation"] = question.explanation
    return payload


def closed_question(text: str, reveal: Payload) -> Payload:
    """One closed question as the results list it."""
    return {"questionId": reveal["questionId"], "text": text, **reveal}


def reveal_for(game: QuizGame, p: Participant) -> Payload:
    """The ``question_closed`` payload being shown, plus what a screen that just
    (re)joined needs to draw it: the question itself and, for a player who answered,
    its ``answer_result`` (with the rank as of now: others may have overtaken it since)."""
    assert game.last_reveal is not None and game.question_index is not None
    q = game.definition.questions[game.question_index]
    reveal = {
        **game.last_reveal,
        "index": game.question_index,
        "total": game.definition.question_count,
        "text": q.text,
        "choices": list(q.choices),
        "kind": q.kind.value,
        **game.rules[game.question_index].question_fields(),
    }
    record = p.answers.get(game.last_reveal["questionId"])
    if record is not None and record.result is not None:
        reveal["result"] = {**record.result, "rank": game.leaderboard.rank(p.id)}
    return reveal


def joined(game: QuizGame, p: Participant, now: float) -> Payload:
    """Everything a (re)joining screen needs to draw the quiz as it is now."""
    quiz: Payload = {
        "title": game.definition.title,
        "questionCount": game.definition.question_count,
        "phase": game.phase,
        "questionIndex": game.question_index,
    }
    if game.starts_at_ms is not None:
        quiz["startsAt"] = game.starts_at_ms
    payload: Payload = {
        "quizId": game.quiz_id,
        "participantId": p.id,
        "resumeToken": p.token,
        "role": "host" if p.is_host else "player",
        "name": p.name,
        "quiz": quiz,
        "score": p.score,
        "streak": p.streak,
        "rank": None if p.is_host else game.leaderboard.rank(p.id),
        "participants": game.player_count,
        # A quiz that shows its leaderboard only at the end shows none before it.
        "leaderboard": [] if game.definition.leaderboard == "end" else game.leaderboard.top(game.settings.top_n),
        "serverTime": game.wall_ms(now),
    }
    if game.phase == Phase.QUESTION:
        open_question = question(game, now)
        record = p.answers.get(open_question["questionId"])
        open_question["answered"] = record is not None
        if record is not None:
            echo = record.echo()
            if "choice" in echo:  # v1 clients read the choice here
                open_question["choice"] = echo["choice"]
            open_question["answer"] = echo
        payload["question"] = open_question
    elif game.phase == Phase.REVEAL and game.last_reveal is not None:
        payload["reveal"] = reveal_for(game, p)
    if p.is_host:
        # One page, never the whole roster: 10,000 players would not fit in the send queue.
        page, cursor = game.roster.player_page(None, PLAYER_PAGE)
        payload["players"] = [player_entry(q) for q in page]
        payload["playersTotal"] = game.player_count
        payload["playersNext"] = cursor
        payload["hostState"] = host_state(game)
    return payload


def player_entry(p: Participant) -> Payload:
    """One player as the host's lists show it (``joined.players``, ``players``)."""
    return {"participantId": p.id, "name": p.name, "connected": p.connected}


def players(page: list[Participant], cursor: str | None, total: int) -> Payload:
    """The reply to the host's ``get_players``: one page in join order and the next cursor."""
    return {"players": [player_entry(p) for p in page], "next": cursor, "total": total}
