"""The quiz state machine: every rule of the wire contract, with no I/O.

``QuizGame`` holds one live quiz.  Each public method is one event (a join, an answer,
a host command, a dropped connection, the passage of time) together with the current
time ``now`` (seconds on the actor's monotonic clock; Trio's clock in production and
``MockClock`` in tests).  Each returns the list of effects to carry out.  Nothing here
sleeps, sends or reads a clock, which is what makes the rules testable in
microseconds and replayable after a crash or a takeover.

Methods validate first and mutate after, so an event that is refused (a
``ProtocolError``) leaves the state exactly as it was.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

import attrs

from quizd.game import effects as fx
from quizd.game.definitions import Question, QuizDefinition
from quizd.game.handoffs import HandoffLog
from quizd.game.leaderboard import Leaderboard
from quizd.game.names import NameError_, name_key, normalize_name
from quizd.game.scoring import score_answer
from quizd.protocol import errors as E
from quizd.protocol.errors import ProtocolError

LOBBY = "lobby"
STARTING = "starting"
QUESTION = "question"
REVEAL = "reveal"
ENDED = "ended"
PHASES = (LOBBY, STARTING, QUESTION, REVEAL, ENDED)

HOST_ID = "host"


@attrs.frozen
class AutoStart:
    min_players: int = 1
    countdown_ms: int | None = None


@attrs.frozen
class GameSettings:
    """Node-wide knobs a quiz needs (from the node config)."""

    top_n: int = 10
    leaderboard_interval_ms: int = 500
    max_players: int = 10000
    linger_s: float = 600.0
    lobby_timeout_s: float = 3600.0


def new_token() -> str:
    return secrets.token_urlsafe(18)


class AnswerRecord:
    """One participant's answer to one question, kept for safe retries and results."""

    __slots__ = ("choice", "received_at", "elapsed_ms", "re", "result")

    def __init__(self, choice: int, received_at: float, elapsed_ms: int, re: str | int | None) -> None:
        self.choice = choice
        self.received_at = received_at
        self.elapsed_ms = elapsed_ms
        self.re = re
        # The answer_result payload once the answer was scored (None before, in on_close).
        self.result: dict[str, Any] | None = None


class Participant:
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


@attrs.frozen
class JoinResult:
    participant_id: str
    effects: list[fx.Effect]


class QuizGame:
    """One live quiz.  Not thread-safe by design: its actor is its only user."""

    def __init__(
        self,
        quiz_id: str,
        definition: QuizDefinition,
        settings: GameSettings,
        now: float,
        *,
        wall_offset_ms: int = 0,
        host_token: str | None = None,
        auto_start: AutoStart | None = None,
        token_factory: Callable[[], str] = new_token,
    ) -> None:
        self.quiz_id = quiz_id
        self.definition = definition
        self.settings = settings
        self.wall_offset_ms = wall_offset_ms
        self.auto_start = auto_start
        self._new_token = token_factory
        self.host_token = host_token or token_factory()
        self.created_at = now
        self.phase = LOBBY
        self.deadline: float | None = now + settings.lobby_timeout_s
        self.question_index: int | None = None
        self.starts_at_ms: int | None = None
        self.handoffs: HandoffLog | None = None
        self.distribution: list[int] = []
        self.answered_count = 0
        self.participants: dict[str, Participant] = {}
        self.tokens: dict[str, str] = {}
        self.name_keys: dict[str, str] = {}
        self.leaderboard = Leaderboard()
        self.closed_questions: list[dict[str, Any]] = []
        self.last_reveal: dict[str, Any] | None = None
        self.finished = False
        self._seq = 0
        # What changed since the snapshot store last looked (cluster mode): participants
        # to write and participants to delete.  Single node, nobody reads them.
        self.dirty: set[str] = set()
        self.removed: set[str] = set()
        # Scored answers so far (for metrics; retries are not counted again).
        self.answers_correct = 0
        self.answers_wrong = 0
        self._next_pid = 1
        self._players = 0
        # Counters kept incrementally so no per-answer check scans every player.
        self._connected = 0
        self._answered_connected = 0
        # Throttled broadcasts: what was last sent and when.
        self._throttle_at: float = now
        self._sent_count = 0
        self._sent_top: tuple[Any, ...] = ()
        self._sent_total = 0
        self._sent_host_state: tuple[Any, ...] | None = None
        host = Participant(HOST_ID, "host", self.host_token, True, 0)
        self.participants[HOST_ID] = host
        self.tokens[self.host_token] = HOST_ID

    # ------------------------------------------------------------------ queries
    @property
    def player_count(self) -> int:
        return self._players

    @property
    def connected_count(self) -> int:
        return self._connected

    def _answered_current(self, p: Participant) -> bool:
        return self.phase == QUESTION and self.question_index is not None and (
            self.question_id(self.question_index) in p.answers
        )

    def _set_connected(self, p: Participant, connected: bool) -> None:
        if p.connected == connected:
            return
        p.connected = connected
        if p.is_host:
            return
        step = 1 if connected else -1
        self._connected += step
        if self._answered_current(p):
            self._answered_connected += step

    def wall_ms(self, now: float) -> int:
        return round(now * 1000) + self.wall_offset_ms

    def current_question(self) -> Question | None:
        if self.question_index is None:
            return None
        return self.definition.questions[self.question_index]

    def question_id(self, index: int) -> str:
        return f"q{index}"

    def summary(self) -> dict[str, Any]:
        return {
            "quizId": self.quiz_id,
            "definitionId": self.definition.id,
            "phase": self.phase,
            "questionIndex": self.question_index,
            "participants": self._players,
        }

    def results(self) -> dict[str, Any]:
        return {
            "quizId": self.quiz_id,
            "definitionId": self.definition.id,
            "phase": self.phase,
            "leaderboard": list(self.leaderboard.iter_entries()),
            "questions": list(self.closed_questions),
        }

    def you(self, pid: str) -> dict[str, int]:
        p = self.participants[pid]
        return {"rank": self.leaderboard.rank(pid), "score": p.score}

    def next_deadline(self) -> float | None:
        """The earliest time ``tick`` has something to do (phase timer or throttle)."""
        deadline = self.deadline
        if self.phase == QUESTION and self.handoffs is not None:
            question = self.current_question()
            assert question is not None
            deadline = self.handoffs.close_at(question.time_limit_ms / 1000)
        if self._throttle_pending():
            throttle = self._throttle_at + self.settings.leaderboard_interval_ms / 1000
            deadline = throttle if deadline is None else min(deadline, throttle)
        return deadline

    # ------------------------------------------------------------------ joins
    def join_player(self, name: str, now: float, re: str | int | None = None) -> JoinResult:
        if self.phase == ENDED:
            raise ProtocolError(E.QUIZ_ENDED, "this quiz has ended")
        if self.phase != LOBBY and not self.definition.allow_late_join:
            raise ProtocolError(E.WRONG_PHASE, "this quiz does not take players once it has started")
        try:
            clean = normalize_name(name)
        except NameError_ as exc:
            raise ProtocolError(E.NAME_INVALID, str(exc), {"reason": exc.reason}) from None
        key = name_key(clean)
        if key in self.name_keys:
            raise ProtocolError(E.NAME_TAKEN, f"the name {clean!r} is taken in this quiz")
        if self._players >= self.settings.max_players:
            raise ProtocolError(E.QUIZ_FULL, "this quiz is full")
        pid = f"p{self._next_pid}"
        self._next_pid += 1
        token = self._new_token()
        player = Participant(pid, clean, token, False, self._next_seq())
        self.participants[pid] = player
        self.tokens[token] = pid
        self.name_keys[key] = pid
        self._players += 1
        self.leaderboard.set(pid, clean, 0, player.reached)
        self.dirty.add(pid)
        out: list[fx.Effect] = [fx.Reply(HOST_ID, "player_joined", {"participantId": pid, "name": clean})]
        out.extend(self._connect(player, now, re))
        if (
            self.phase == LOBBY
            and self.auto_start is not None
            and self._players >= max(1, self.auto_start.min_players)
        ):
            out.extend(self._start(now, self.auto_start.countdown_ms))
        return JoinResult(pid, out)

    def resume(self, token: str, now: float, re: str | int | None = None, *, host: bool = False) -> JoinResult:
        pid = self.tokens.get(token)
        participant = self.participants.get(pid) if pid is not None else None
        if participant is None or (host and not participant.is_host):
            code = E.NOT_HOST if host else E.INVALID_RESUME_TOKEN
            raise ProtocolError(code, "unknown or revoked token")
        if self.phase == ENDED:
            raise ProtocolError(E.QUIZ_ENDED, "this quiz has ended")
        return JoinResult(participant.id, self._connect(participant, now, re))

    def _connect(self, participant: Participant, now: float, re: str | int | None) -> list[fx.Effect]:
        self._set_connected(participant, True)
        if self.phase == QUESTION and self.handoffs is not None and not participant.is_host:
            # A late joiner gets what is left of the nominal window, never more.
            self.handoffs.handed(participant.id, self.handoffs.opened_at)
        return [fx.Reply(participant.id, "joined", self._joined_payload(participant, now), re)]

    def _joined_payload(self, p: Participant, now: float) -> dict[str, Any]:
        quiz: dict[str, Any] = {
            "title": self.definition.title,
            "questionCount": self.definition.question_count,
            "phase": self.phase,
            "questionIndex": self.question_index,
        }
        if self.starts_at_ms is not None:
            quiz["startsAt"] = self.starts_at_ms
        payload: dict[str, Any] = {
            "quizId": self.quiz_id,
            "participantId": p.id,
            "resumeToken": p.token,
            "role": "host" if p.is_host else "player",
            "name": p.name,
            "quiz": quiz,
            "score": p.score,
            "streak": p.streak,
            "rank": None if p.is_host else self.leaderboard.rank(p.id),
            "participants": self._players,
            "leaderboard": self.leaderboard.top(self.settings.top_n),
            "serverTime": self.wall_ms(now),
        }
        if self.phase == QUESTION:
            question = self._question_payload(now)
            record = p.answers.get(question["questionId"])
            question["answered"] = record is not None
            if record is not None:
                question["choice"] = record.choice
            payload["question"] = question
        elif self.phase == REVEAL and self.last_reveal is not None:
            payload["reveal"] = self._reveal_for(p)
        if p.is_host:
            payload["players"] = [
                {"participantId": q.id, "name": q.name, "connected": q.connected}
                for q in self.participants.values()
                if not q.is_host
            ]
            payload["hostState"] = self._host_state()
        return payload

    def _reveal_for(self, p: Participant) -> dict[str, Any]:
        """The ``question_closed`` payload being shown, plus what a screen that just
        (re)joined needs to draw it: the question itself and, for a player who answered,
        its ``answer_result`` (with the rank as of now: others may have overtaken it since)."""
        assert self.last_reveal is not None and self.question_index is not None
        question = self.definition.questions[self.question_index]
        reveal = {
            **self.last_reveal,
            "index": self.question_index,
            "total": self.definition.question_count,
            "text": question.text,
            "choices": list(question.choices),
        }
        record = p.answers.get(self.last_reveal["questionId"])
        if record is not None and record.result is not None:
            reveal["result"] = {**record.result, "rank": self.leaderboard.rank(p.id)}
        return reveal

    def disconnected(self, pid: str, now: float) -> list[fx.Effect]:
        participant = self.participants.get(pid)
        if participant is None or not participant.connected:
            return []
        self._set_connected(participant, False)
        return self._maybe_close_when_all_answered(now)

    # ------------------------------------------------------------------ player messages
    def answer(
        self, pid: str, question_id: str, choice: int, received_at: float, re: str | int | None = None
    ) -> list[fx.Effect]:
        participant = self.participants[pid]
        if participant.is_host:
            raise ProtocolError(E.INVALID_MESSAGE, "the host does not answer questions")
        previous = participant.answers.get(question_id)
        if previous is not None:
            if previous.choice != choice:
                raise ProtocolError(E.ALREADY_ANSWERED, "you already answered this question")
            return [self._answer_reply(participant, question_id, previous, re)]
        question = self.current_question()
        open_id = self.question_id(self.question_index) if self.question_index is not None else None
        if self.phase != QUESTION or question is None or question_id != open_id or self.handoffs is None:
            raise ProtocolError(E.QUESTION_CLOSED, "that question is not open")
        elapsed_ms = round((received_at - self.handoffs.window_start(pid)) * 1000)
        if elapsed_ms > question.time_limit_ms:
            raise ProtocolError(E.QUESTION_CLOSED, "your time for this question is over")
        if isinstance(choice, bool) or not 0 <= choice < len(question.choices):
            raise ProtocolError(E.INVALID_CHOICE, f"choice must be between 0 and {len(question.choices) - 1}")
        record = AnswerRecord(choice, received_at, max(elapsed_ms, 0), re)
        participant.answers[question_id] = record
        self.dirty.add(pid)
        self.distribution[choice] += 1
        self.answered_count += 1
        if participant.connected:
            self._answered_connected += 1
        out: list[fx.Effect] = []
        if self.definition.reveal == "on_answer":
            self._score(participant, question_id, question, record)
        out.append(self._answer_reply(participant, question_id, record, re))
        out.extend(self._maybe_close_when_all_answered(received_at))
        return out

    def _answer_reply(
        self, p: Participant, question_id: str, record: AnswerRecord, re: str | int | None
    ) -> fx.Reply:
        if record.result is not None:
            return fx.Reply(p.id, "answer_result", record.result, re)
        return fx.Reply(p.id, "answer_accepted", {"questionId": question_id, "choice": record.choice}, re)

    def _score(self, p: Participant, question_id: str, question: Question, record: AnswerRecord) -> None:
        correct = record.choice == question.answer
        if correct:
            self.answers_correct += 1
        else:
            self.answers_wrong += 1
        points, p.streak = score_answer(
            correct=correct,
            points=question.points,
            time_limit_ms=question.time_limit_ms,
            elapsed_ms=record.elapsed_ms,
            streak_bonus=self.definition.streak_bonus,
            previous_streak=p.streak,
        )
        self.dirty.add(p.id)
        if points:
            p.score += points
            p.reached = self._next_seq()
            self.leaderboard.set(p.id, p.name, p.score, p.reached)
        record.result = {
            "questionId": question_id,
            "choice": record.choice,
            "correct": correct,
            "points": points,
            "score": p.score,
            "streak": p.streak,
            "rank": self.leaderboard.rank(p.id),
        }

    def get_leaderboard(self, pid: str, re: str | int | None = None) -> list[fx.Effect]:
        payload: dict[str, Any] = {
            "top": self.leaderboard.top(self.settings.top_n),
            "total": len(self.leaderboard),
        }
        if not self.participants[pid].is_host:
            payload["you"] = self.you(pid)
        return [fx.Reply(pid, "leaderboard", payload, re)]

    def leave(self, pid: str, now: float) -> list[fx.Effect]:
        participant = self.participants.get(pid)
        if participant is None:
            return []
        if participant.is_host:
            self._set_connected(participant, False)
            return [fx.Close(pid, E.CLOSE_NORMAL, "left")]
        out = self._remove(participant)
        out.append(fx.Close(pid, E.CLOSE_NORMAL, "left"))
        out.extend(self._maybe_close_when_all_answered(now))
        return out

    def _remove(self, p: Participant) -> list[fx.Effect]:
        self._set_connected(p, False)
        del self.participants[p.id]
        self.dirty.discard(p.id)
        self.removed.add(p.id)
        self.tokens.pop(p.token, None)
        self.name_keys.pop(p.key, None)
        self.leaderboard.remove(p.id)
        self._players -= 1
        return [fx.Reply(HOST_ID, "player_left", {"participantId": p.id, "name": p.name})]

    # ------------------------------------------------------------------ host commands
    def host_command(self, pid: str, command: str, payload: Any, now: float, re: str | int | None) -> list[fx.Effect]:
        if not self.participants[pid].is_host:
            raise ProtocolError(E.NOT_HOST, f"only the host may send {command!r}")
        if command == "start":
            if self.phase != LOBBY:
                raise ProtocolError(E.WRONG_PHASE, f"the quiz is in phase {self.phase!r}, not 'lobby'")
            out = self._start(now, None)
        elif command == "next":
            out = self._next(now, payload.questionIndex)
        elif command == "end":
            out = [] if self.phase == ENDED else self.end(now)
        elif command == "kick":
            out = self._kick(payload.participantId, now)
        else:  # pragma: no cover - the parser only lets host commands through
            raise ProtocolError(E.UNKNOWN_TYPE, command)
        # The reply goes before any close, so a host that ends the quiz still hears back.
        reply = fx.Reply(HOST_ID, "host_state", self._host_state(), re)
        first_close = next((i for i, e in enumerate(out) if isinstance(e, fx.Close)), len(out))
        out.insert(first_close, reply)
        return out

    def _next(self, now: float, guard: int | None) -> list[fx.Effect]:
        if guard is not None and guard != self.question_index:
            raise ProtocolError(
                E.WRONG_PHASE, f"question {guard} is not the current question ({self.question_index})"
            )
        if self.phase == QUESTION:
            return self._close_question(now)
        if self.phase == REVEAL:
            return self._after_reveal(now)
        raise ProtocolError(E.WRONG_PHASE, f"'next' does nothing in phase {self.phase!r}")

    def _kick(self, target: str, now: float) -> list[fx.Effect]:
        participant = self.participants.get(target)
        if participant is None or participant.is_host:
            raise ProtocolError(E.UNKNOWN_PARTICIPANT, f"no player {target!r} in this quiz")
        out: list[fx.Effect] = [
            fx.Reply(target, "kicked", {"reason": "removed by the host"}),
            fx.Close(target, E.CLOSE_KICKED, "kicked"),
        ]
        out.extend(self._remove(participant))
        out.extend(self._maybe_close_when_all_answered(now))
        return out

    def _host_state(self) -> dict[str, Any]:
        return {
            "phase": self.phase,
            "questionIndex": self.question_index,
            "participants": self._players,
            "connected": self.connected_count,
            "answered": self.answered_count if self.phase in (QUESTION, REVEAL) else 0,
        }

    # ------------------------------------------------------------------ phases
    def _start(self, now: float, countdown_ms: int | None) -> list[fx.Effect]:
        countdown = self.definition.countdown_ms if countdown_ms is None else countdown_ms
        self.phase = STARTING
        self.deadline = now + countdown / 1000
        self.starts_at_ms = self.wall_ms(now) + countdown
        return [fx.Broadcast("quiz_starting", {"startsAt": self.starts_at_ms, "countdownMs": countdown})]

    def _question_payload(self, now: float) -> dict[str, Any]:
        assert self.question_index is not None and self.handoffs is not None
        question = self.definition.questions[self.question_index]
        started = self.wall_ms(self.handoffs.opened_at)
        return {
            "questionId": self.question_id(self.question_index),
            "index": self.question_index,
            "total": self.definition.question_count,
            "text": question.text,
            "choices": list(question.choices),
            "timeLimitMs": question.time_limit_ms,
            "startedAt": started,
            "endsAt": started + question.time_limit_ms,
            "serverTime": self.wall_ms(now),
        }

    def _open_question(self, index: int, now: float) -> list[fx.Effect]:
        question = self.definition.questions[index]
        qid = self.question_id(index)
        self.phase = QUESTION
        self.question_index = index
        self.handoffs = HandoffLog(qid, now, question.time_limit_ms / 1000)
        self.deadline = self.handoffs.nominal_end
        self.distribution = [0] * len(question.choices)
        self.answered_count = 0
        self._answered_connected = 0
        self.last_reveal = None
        return [fx.Broadcast("question", self._question_payload(now), question_id=qid)]

    def _close_question(self, now: float) -> list[fx.Effect]:
        question = self.current_question()
        assert question is not None and self.question_index is not None
        qid = self.question_id(self.question_index)
        self.phase = REVEAL
        self.deadline = now + self.definition.reveal_ms / 1000
        on_close = self.definition.reveal == "on_close"
        answerers: list[tuple[Participant, AnswerRecord]] = []
        for p in self.participants.values():
            if p.is_host:
                continue
            record = p.answers.get(qid)
            if record is None:
                if p.streak:
                    p.streak = 0
                    self.dirty.add(p.id)
            else:
                answerers.append((p, record))
        if on_close:
            # Apply in arrival order so "who reached the score first" is who answered first,
            # then read each rank once everybody's points are in.
            answerers.sort(key=lambda pr: pr[1].received_at)
            for p, record in answerers:
                self._score(p, qid, question, record)
            for p, record in answerers:
                assert record.result is not None
                record.result["rank"] = self.leaderboard.rank(p.id)
        reveal = {"questionId": qid, "correctChoice": question.answer, "distribution": list(self.distribution)}
        self.last_reveal = reveal
        self.closed_questions.append({"questionId": qid, "text": question.text, **reveal})
        out: list[fx.Effect] = [fx.Broadcast("question_closed", reveal)]
        if on_close:
            out.extend(self._answer_reply(p, qid, record, record.re) for p, record in answerers)
        out.append(self._leaderboard_broadcast(now))
        return out

    def _after_reveal(self, now: float) -> list[fx.Effect]:
        assert self.question_index is not None
        if self.question_index + 1 < self.definition.question_count:
            return self._open_question(self.question_index + 1, now)
        return self.end(now)

    def end(self, now: float) -> list[fx.Effect]:
        """End the quiz now (last reveal over, host ``end``, HTTP, lobby timeout, drain)."""
        if self.phase == ENDED:
            return []
        out: list[fx.Effect] = []
        if self.phase == QUESTION:
            out.extend(self._close_question(now))
        self.phase = ENDED
        self.deadline = now + self.settings.linger_s
        top = self.leaderboard.top(self.settings.top_n)
        total = len(self.leaderboard)
        out.append(fx.Reply(HOST_ID, "quiz_ended", {"leaderboard": top, "total": total}))
        for p in self.participants.values():
            if not p.is_host:
                payload = {"leaderboard": top, "total": total, "you": self.you(p.id)}
                out.append(fx.Reply(p.id, "quiz_ended", payload))
        out.extend(fx.Close(pid, E.CLOSE_QUIZ_CLOSED, "quiz ended") for pid in self.participants)
        for p in self.participants.values():
            self._set_connected(p, False)
        out.append(fx.ResultsReady(self.results()))
        return out

    def _maybe_close_when_all_answered(self, now: float) -> list[fx.Effect]:
        if self.phase != QUESTION or not self.definition.close_when_all_answered:
            return []
        if self._connected and self._answered_connected >= self._connected:
            return self._close_question(now)
        return []

    # ------------------------------------------------------------------ time
    def tick(self, now: float) -> list[fx.Effect]:
        """Run every timer that is due at ``now``."""
        out: list[fx.Effect] = []
        for _ in range(4):  # a bounded number of phase steps per tick
            step = self._phase_timer(now)
            if not step:
                break
            out.extend(step)
        out.extend(self._flush_throttled(now))
        return out

    def _phase_timer(self, now: float) -> list[fx.Effect]:
        if self.phase == QUESTION:
            question = self.current_question()
            assert question is not None and self.handoffs is not None
            if now >= self.handoffs.close_at(question.time_limit_ms / 1000):
                return self._close_question(now)
            return []
        if self.deadline is None or now < self.deadline:
            return []
        if self.phase == LOBBY:
            return self.end(now)
        if self.phase == STARTING:
            return self._open_question(0, now)
        if self.phase == REVEAL:
            return self._after_reveal(now)
        if self.phase == ENDED and not self.finished:
            self.finished = True
            self.deadline = None
            return [fx.Finished()]
        return []

    def _throttle_pending(self) -> bool:
        if self._players != self._sent_count:
            return True
        if self._host_state_key() != self._sent_host_state:
            return True
        # An ended quiz sends no more leaderboards (quiz_ended carried the last one).
        return self.phase != ENDED and self._leaderboard_changed()

    def _leaderboard_changed(self) -> bool:
        return (
            len(self.leaderboard) != self._sent_total
            or self.leaderboard.top_signature(self.settings.top_n) != self._sent_top
        )

    def _host_state_key(self) -> tuple[Any, ...]:
        return (self.phase, self.question_index, self._players, self.connected_count, self.answered_count)

    def _flush_throttled(self, now: float) -> list[fx.Effect]:
        if now < self._throttle_at + self.settings.leaderboard_interval_ms / 1000:
            return []
        out: list[fx.Effect] = []
        if self._players != self._sent_count:
            self._sent_count = self._players
            out.append(fx.Broadcast("participants", {"count": self._players}))
        if self.phase != ENDED and self._leaderboard_changed():
            out.append(self._leaderboard_broadcast(now))
        state_key = self._host_state_key()
        if state_key != self._sent_host_state:
            self._sent_host_state = state_key
            out.append(fx.Reply(HOST_ID, "host_state", self._host_state()))
        if out:
            self._throttle_at = now
        return out

    def _leaderboard_broadcast(self, now: float) -> fx.Broadcast:
        self._sent_top = self.leaderboard.top_signature(self.settings.top_n)
        self._sent_total = len(self.leaderboard)
        self._throttle_at = now
        payload = {"top": self.leaderboard.top(self.settings.top_n), "total": self._sent_total}
        return fx.Broadcast("leaderboard", payload, replaceable=True)

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq
