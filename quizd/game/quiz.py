"""The quiz state machine: every rule of the wire contract, with no I/O.

``QuizGame`` holds one live quiz.  Each public method is one event (a join, an answer,
a host command, a dropped connection, the passage of time) together with the current
time ``now`` (seconds on the actor's monotonic clock; Trio's clock in production and
``MockClock`` in tests).  Each returns the list of effects to carry out.  Nothing here
sleeps, sends or reads a clock, which is what makes the rules testable in
microseconds and replayable after a crash or a takeover.

Methods validate first and mutate after, so an event that is refused (a
``ProtocolError``) leaves the state exactly as it was.  What the effects carry (the
wire payloads) is spelled by ``quizd.game.views``; the game decides when a snapshot is
taken and what changed since (``to_snapshot`` / ``take_changes`` / ``from_snapshot``),
and ``quizd.game.snapshot`` spells the records.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable
from typing import Any

import attrs

from quizd.game import effects as fx
from quizd.game import views
from quizd.game.definitions import Question, QuizDefinition
from quizd.game.handoffs import HandoffLog
from quizd.game.kinds import Key, KindRules, rules_for
from quizd.game.leaderboard import Leaderboard
from quizd.game.namegen import generate_name
from quizd.game.names import NameError_, NamesMode, name_key, normalize_name
from quizd.game.participants import HOST_ID, AnswerRecord, BadCursor, Participant, ReplyTo, Roster
from quizd.game.phase import Phase
from quizd.game.scoring import award, time_points
from quizd.game.settings import AutoStart, GameSettings
from quizd.game.snapshot import (
    Changes,
    Record,
    Snapshot,
    clock_shift,
    meta_record,
    participant_record,
    restore_into,
)
from quizd.game.throttle import BroadcastThrottle
from quizd.protocol import errors as E
from quizd.protocol.errors import ProtocolError
from quizd.protocol.messages import Answer

__all__ = ["HOST_ID", "AutoStart", "GameSettings", "JoinResult", "Phase", "QuizGame", "new_token"]


def new_token() -> str:
    return secrets.token_urlsafe(18)


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
        rng: random.Random | None = None,
    ) -> None:
        self.quiz_id = quiz_id
        # Picks generated names; seeded by the quiz id unless given, so a test replays.
        self.rng = rng if rng is not None else random.Random(quiz_id)
        self.definition = definition
        # Each question's kind rules, chosen once (quizd.game.kinds).
        self.rules: tuple[KindRules, ...] = tuple(rules_for(q) for q in definition.questions)
        self.settings = settings
        self.wall_offset_ms = wall_offset_ms
        self.auto_start = auto_start
        self._new_token = token_factory
        self.host_token = host_token or token_factory()
        self.created_at = now
        self.phase = Phase.LOBBY
        self.deadline: float | None = now + settings.lobby_timeout_s
        self.question_index: int | None = None
        self.starts_at_ms: int | None = None
        self.handoffs: HandoffLog | None = None
        self.distribution: list[int] = []
        self.answered_count = 0
        self.roster = Roster()
        # The roster's own containers, by their usual names (never rebound).
        self.participants = self.roster.participants
        self.dirty = self.roster.dirty
        self.removed = self.roster.removed
        self.leaderboard = Leaderboard()
        self.closed_questions: list[dict[str, Any]] = []
        self.last_reveal: dict[str, Any] | None = None
        self.finished = False
        self.seq = 0
        # Scored answers so far (for metrics; retries are not counted again).
        self.answers_correct = 0
        self.answers_wrong = 0
        self._throttle = BroadcastThrottle(settings.broadcast_interval_ms, now)
        self.roster.add(Participant(HOST_ID, "host", self.host_token, True, 0))

    # ------------------------------------------------------------------ queries
    @property
    def player_count(self) -> int:
        return self.roster.players

    @property
    def connected_count(self) -> int:
        return self.roster.connected

    def _answered_current(self, p: Participant) -> bool:
        return (
            self.phase == Phase.QUESTION
            and self.question_index is not None
            and (self.question_id(self.question_index) in p.answers)
        )

    def _set_connected(self, p: Participant, connected: bool) -> None:
        self.roster.set_connected(p, connected, self._answered_current(p))

    def wall_ms(self, now: float) -> int:
        return round(now * 1000) + self.wall_offset_ms

    def current_question(self) -> Question | None:
        if self.question_index is None:
            return None
        return self.definition.questions[self.question_index]

    def question_id(self, index: int) -> str:
        return f"q{index}"

    def question_index_of(self, question_id: str) -> int:
        """The index of a question id this game gave out (``q3`` -> 3)."""
        return int(question_id[1:])

    def summary(self) -> dict[str, Any]:
        """The control plane's view of this quiz (``views.summary``)."""
        return views.summary(self)

    def results(self) -> dict[str, Any]:
        """The results as the control plane and ``results_dir`` show them (``views.results``)."""
        return views.results(self)

    def next_deadline(self) -> float | None:
        """The earliest time ``tick`` has something to do (phase timer or throttle)."""
        deadline = self.deadline
        if self.phase == Phase.QUESTION and self.handoffs is not None:
            question = self.current_question()
            assert question is not None
            deadline = self.handoffs.close_at(question.time_limit_ms / 1000)
        throttle = self._throttle.next_at(self)
        if throttle is not None:
            deadline = throttle if deadline is None else min(deadline, throttle)
        return deadline

    # ------------------------------------------------------------------ joins
    def join_player(self, name: str | None, now: float, reply_to: ReplyTo = None) -> JoinResult:
        """A new player: ``name`` as given, or None for a generated one (the gateway lets a
        join without a name through only when the node's names mode generates)."""
        if self.phase == Phase.ENDED:
            raise ProtocolError(E.QUIZ_ENDED, "this quiz has ended")
        if self.phase != Phase.LOBBY and not self.definition.allow_late_join:
            raise ProtocolError(E.WRONG_PHASE, "this quiz does not take players once it has started")
        try:
            clean = self._player_name(name)
        except NameError_ as exc:
            raise ProtocolError(E.NAME_INVALID, str(exc), {"reason": exc.reason}) from None
        key = name_key(clean)
        if key in self.roster.name_keys:
            raise ProtocolError(E.NAME_TAKEN, f"the name {clean!r} is taken in this quiz")
        if self.roster.players >= self.settings.max_players:
            raise ProtocolError(E.QUIZ_FULL, "this quiz is full")
        pid = self.roster.new_pid()
        player = Participant(pid, clean, self._new_token(), False, self._next_seq())
        self.roster.add(player)
        self.leaderboard.set(pid, clean, 0, player.reached)
        self.dirty.add(pid)
        out: list[fx.Effect] = [fx.Reply(HOST_ID, "player_joined", views.participant_ref(player))]
        out.extend(self._connect(player, now, reply_to))
        if (
            self.phase == Phase.LOBBY
            and self.auto_start is not None
            and self.roster.players >= max(1, self.auto_start.min_players)
        ):
            out.extend(self._start(now, self.auto_start.countdown_ms))
        return JoinResult(pid, out)

    def _player_name(self, name: str | None) -> str:
        """The name a joining player gets: generated (no name, or the ``generated`` mode
        that ignores given names), else the given one checked and refused if it holds a
        deny-list word; ``NameError_`` says why not."""
        names = self.settings.names
        if name is None or names.mode is NamesMode.GENERATED:
            return generate_name(self.rng, self._name_is_free)
        clean = normalize_name(name)
        names.refuse_denied(clean)
        return clean

    def _name_is_free(self, candidate: str) -> bool:
        """A generated name must be new in the quiz and pass the deny-list too."""
        if name_key(candidate) in self.roster.name_keys:
            return False
        return self.settings.names.denylist.find(candidate) is None

    def resume(self, token: str, now: float, reply_to: ReplyTo = None, *, host: bool = False) -> JoinResult:
        participant = self.roster.by_token(token)
        if participant is None or (host and not participant.is_host):
            code = E.NOT_HOST if host else E.INVALID_RESUME_TOKEN
            raise ProtocolError(code, "unknown or revoked token")
        if self.phase == Phase.ENDED:
            raise ProtocolError(E.QUIZ_ENDED, "this quiz has ended")
        return JoinResult(participant.id, self._connect(participant, now, reply_to))

    def _connect(self, participant: Participant, now: float, reply_to: ReplyTo) -> list[fx.Effect]:
        self._set_connected(participant, True)
        if self.phase == Phase.QUESTION and self.handoffs is not None and not participant.is_host:
            # A late joiner gets what is left of the nominal window, never more.
            self.handoffs.handed(participant.id, self.handoffs.opened_at)
        return [fx.Reply(participant.id, "joined", views.joined(self, participant, now), reply_to)]

    def disconnected(self, pid: str, now: float) -> list[fx.Effect]:
        participant = self.participants.get(pid)
        if participant is None or not participant.connected:
            return []
        self._set_connected(participant, False)
        return self._maybe_close_when_all_answered(now)

    # ------------------------------------------------------------------ player messages
    def answer(
        self, pid: str, question_id: str, answer: Answer | int, received_at: float, reply_to: ReplyTo = None
    ) -> list[fx.Effect]:
        """A player's ``answer``; a bare ``int`` is a v1 ``choice``."""
        given = Answer(choice=answer) if isinstance(answer, int) else answer
        participant = self.participants[pid]
        if participant.is_host:
            raise ProtocolError(E.INVALID_MESSAGE, "the host does not answer questions")
        previous = participant.answers.get(question_id)
        if previous is not None:
            if not self.rules[self.question_index_of(question_id)].same(previous.answer, given):
                raise ProtocolError(E.ALREADY_ANSWERED, "you already answered this question")
            return [self._answer_reply(participant, question_id, previous, reply_to)]
        question = self.current_question()
        open_id = self.question_id(self.question_index) if self.question_index is not None else None
        if self.phase != Phase.QUESTION or question is None or question_id != open_id or self.handoffs is None:
            raise ProtocolError(E.QUESTION_CLOSED, "that question is not open")
        elapsed_ms = round((received_at - self.handoffs.window_start(pid)) * 1000)
        if elapsed_ms > question.time_limit_ms:
            raise ProtocolError(E.QUESTION_CLOSED, "your time for this question is over")
        rules = self.rules[self.question_index_of(question_id)]
        key = rules.key(given)
        record = AnswerRecord(given, received_at, max(elapsed_ms, 0), reply_to)
        participant.answers[question_id] = record
        self.dirty.add(pid)
        rules.count(self.distribution, key)
        self.answered_count += 1
        if participant.connected:
            self.roster.answered_connected += 1
        out: list[fx.Effect] = []
        if self.definition.reveal == "on_answer":
            self._score(participant, question_id, question, record, key)
        out.append(self._answer_reply(participant, question_id, record, reply_to))
        out.extend(self._maybe_close_when_all_answered(received_at))
        return out

    def _answer_reply(self, p: Participant, question_id: str, record: AnswerRecord, reply_to: ReplyTo) -> fx.Reply:
        if record.result is not None:
            return fx.Reply(p.id, "answer_result", record.result, reply_to)
        return fx.Reply(p.id, "answer_accepted", views.answer_accepted(question_id, record), reply_to)

    def _score(self, p: Participant, question_id: str, question: Question, record: AnswerRecord, key: Key) -> None:
        rules = self.rules[self.question_index_of(question_id)]
        correct = rules.is_correct(key)
        if correct is True:
            self.answers_correct += 1
        elif correct is False:
            self.answers_wrong += 1
        speed = time_points(question.points, question.time_limit_ms, record.elapsed_ms)
        points, p.streak = award(correct, rules.points(key, speed), self.definition.streak_bonus, p.streak)
        self.dirty.add(p.id)
        if points:
            p.score += points
            p.reached = self._next_seq()
            self.leaderboard.set(p.id, p.name, p.score, p.reached)
        record.result = views.answer_result(question_id, record, correct, points, p, self.leaderboard.rank(p.id))

    def get_leaderboard(self, pid: str, reply_to: ReplyTo = None) -> list[fx.Effect]:
        if self.definition.leaderboard == "end" and self.phase != Phase.ENDED:
            raise ProtocolError(E.WRONG_PHASE, "this quiz shows its leaderboard only when it has ended")
        own = None if self.participants[pid].is_host else pid
        return [fx.Reply(pid, "leaderboard", views.leaderboard(self, own), reply_to)]

    def get_players(self, pid: str, after: str, limit: int | None = None, reply_to: ReplyTo = None) -> list[fx.Effect]:
        """Host ``get_players``: the next page of the player list after cursor ``after``
        (``joined.playersNext`` or a previous ``players.next``), in join order."""
        self._require_host(pid, "get_players")
        size = views.PLAYER_PAGE if limit is None else limit
        if isinstance(size, bool) or not 1 <= size <= views.PLAYER_PAGE:
            raise ProtocolError(
                E.INVALID_MESSAGE,
                f"limit must be between 1 and {views.PLAYER_PAGE}",
                {"path": "payload.limit", "problem": f"not between 1 and {views.PLAYER_PAGE}"},
            )
        try:
            page, cursor = self.roster.player_page(after, size)
        except BadCursor:
            raise ProtocolError(
                E.INVALID_MESSAGE, "unknown cursor", {"path": "payload.after", "problem": "unknown cursor"}
            ) from None
        return [fx.Reply(pid, "players", views.players(page, cursor, self.player_count), reply_to)]

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
        self.roster.remove(p)
        self.leaderboard.remove(p.id)
        if self.handoffs is not None:
            self.handoffs.forget(p.id)
        return [fx.Reply(HOST_ID, "player_left", views.participant_ref(p))]

    # ------------------------------------------------------------------ host commands
    def start(self, pid: str, now: float, reply_to: ReplyTo = None) -> list[fx.Effect]:
        """Host ``start``: the countdown to the first question (lobby only)."""
        self._require_host(pid, "start")
        if self.phase != Phase.LOBBY:
            raise ProtocolError(E.WRONG_PHASE, f"the quiz is in phase {self.phase.value!r}, not 'lobby'")
        return self._host_answered(self._start(now, None), reply_to)

    def next(
        self, pid: str, now: float, question_index: int | None = None, reply_to: ReplyTo = None
    ) -> list[fx.Effect]:
        """Host ``next``: close the open question, or end the reveal; ``question_index``
        guards against a double click acting twice."""
        self._require_host(pid, "next")
        if question_index is not None and question_index != self.question_index:
            raise ProtocolError(
                E.WRONG_PHASE, f"question {question_index} is not the current question ({self.question_index})"
            )
        if self.phase == Phase.QUESTION:
            out = self._close_question(now)
        elif self.phase == Phase.REVEAL:
            out = self._after_reveal(now)
        else:
            raise ProtocolError(E.WRONG_PHASE, f"'next' does nothing in phase {self.phase.value!r}")
        return self._host_answered(out, reply_to)

    def end(self, pid: str, now: float, reply_to: ReplyTo = None) -> list[fx.Effect]:
        """Host ``end``: end the quiz now (answered even when it had already ended)."""
        self._require_host(pid, "end")
        return self._host_answered(self.end_now(now), reply_to)

    def kick(self, pid: str, target: str, now: float, reply_to: ReplyTo = None) -> list[fx.Effect]:
        """Host ``kick``: remove player ``target`` for good (4004)."""
        self._require_host(pid, "kick")
        participant = self.participants.get(target)
        if participant is None or participant.is_host:
            raise ProtocolError(E.UNKNOWN_PARTICIPANT, f"no player {target!r} in this quiz")
        out: list[fx.Effect] = [
            fx.Reply(target, "kicked", views.kicked()),
            fx.Close(target, E.CLOSE_KICKED, "kicked"),
        ]
        out.extend(self._remove(participant))
        out.extend(self._maybe_close_when_all_answered(now))
        return self._host_answered(out, reply_to)

    def _require_host(self, pid: str, command: str) -> None:
        if not self.participants[pid].is_host:
            raise ProtocolError(E.NOT_HOST, f"only the host may send {command!r}")

    def _host_answered(self, out: list[fx.Effect], reply_to: ReplyTo) -> list[fx.Effect]:
        """Every host command is answered with ``host_state``, before any close, so a
        host that ends the quiz still hears back."""
        reply = fx.Reply(HOST_ID, "host_state", views.host_state(self), reply_to)
        first_close = next((i for i, e in enumerate(out) if isinstance(e, fx.Close)), len(out))
        out.insert(first_close, reply)
        return out

    # ------------------------------------------------------------------ phases
    def _start(self, now: float, countdown_ms: int | None) -> list[fx.Effect]:
        countdown = self.definition.countdown_ms if countdown_ms is None else countdown_ms
        self.phase = Phase.STARTING
        self.deadline = now + countdown / 1000
        self.starts_at_ms = self.wall_ms(now) + countdown
        return [fx.Broadcast("quiz_starting", views.quiz_starting(self.starts_at_ms, countdown))]

    def _open_question(self, index: int, now: float) -> list[fx.Effect]:
        question = self.definition.questions[index]
        qid = self.question_id(index)
        self.phase = Phase.QUESTION
        self.question_index = index
        self.handoffs = HandoffLog(qid, now, question.time_limit_ms / 1000, track=self.roster.track_removals)
        self.deadline = self.handoffs.nominal_end
        self.distribution = [0] * len(question.choices)
        self.answered_count = 0
        self.roster.answered_connected = 0
        self.last_reveal = None
        return [fx.Broadcast("question", views.question(self, now), question_id=qid)]

    def _close_question(self, now: float) -> list[fx.Effect]:
        question = self.current_question()
        assert question is not None and self.question_index is not None
        qid = self.question_id(self.question_index)
        self.phase = Phase.REVEAL
        self.deadline = now + self.definition.reveal_ms / 1000
        on_close = self.definition.reveal == "on_close"
        rules = self.rules[self.question_index]
        answerers: list[tuple[Participant, AnswerRecord]] = []
        for p in self.participants.values():
            if p.is_host:
                continue
            record = p.answers.get(qid)
            if record is None:
                if p.streak and rules.scored:  # a poll never changes a streak
                    p.streak = 0
                    self.dirty.add(p.id)
            else:
                answerers.append((p, record))
        if on_close:
            # Apply in arrival order so "who reached the score first" is who answered first,
            # then read each rank once everybody's points are in.
            answerers.sort(key=lambda pr: pr[1].received_at)
        keys = [rules.key(record.answer) for _, record in answerers]
        if on_close:
            for (p, record), key in zip(answerers, keys, strict=True):
                self._score(p, qid, question, record, key)
            for p, record in answerers:
                assert record.result is not None
                record.result["rank"] = self.leaderboard.rank(p.id)
        reveal = views.question_closed(qid, question, rules.closed_fields(self.distribution, keys))
        self.last_reveal = reveal
        self.closed_questions.append(views.closed_question(question.text, reveal))
        out: list[fx.Effect] = [fx.Broadcast("question_closed", reveal)]
        if on_close:
            out.extend(self._answer_reply(p, qid, record, record.reply_to) for p, record in answerers)
        if self.definition.leaderboard != "end":
            out.append(self._throttle.leaderboard(self, now))
        return out

    def _after_reveal(self, now: float) -> list[fx.Effect]:
        assert self.question_index is not None
        if self.question_index + 1 < self.definition.question_count:
            return self._open_question(self.question_index + 1, now)
        return self.end_now(now)

    def end_now(self, now: float) -> list[fx.Effect]:
        """End the quiz now (last reveal over, host ``end``, HTTP, lobby timeout, drain)."""
        if self.phase == Phase.ENDED:
            return []
        out: list[fx.Effect] = []
        if self.phase == Phase.QUESTION:
            out.extend(self._close_question(now))
        self.phase = Phase.ENDED
        self.deadline = now + self.settings.linger_s
        top = self.leaderboard.top(self.settings.top_n)
        total = len(self.leaderboard)
        out.append(fx.Reply(HOST_ID, "quiz_ended", views.quiz_ended(top, total)))
        for p in self.participants.values():
            if not p.is_host:
                out.append(fx.Reply(p.id, "quiz_ended", views.quiz_ended(top, total, views.you(self, p.id))))
        out.extend(fx.Close(pid, E.CLOSE_QUIZ_CLOSED, "quiz ended") for pid in self.participants)
        for p in self.participants.values():
            self._set_connected(p, False)
        out.append(fx.ResultsReady(self.results()))
        return out

    def _maybe_close_when_all_answered(self, now: float) -> list[fx.Effect]:
        if self.phase != Phase.QUESTION or not self.definition.close_when_all_answered:
            return []
        roster = self.roster
        if roster.connected and roster.answered_connected >= roster.connected:
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
        out.extend(self._throttle.flush(self, now))
        return out

    def _phase_timer(self, now: float) -> list[fx.Effect]:
        if self.phase == Phase.QUESTION:
            question = self.current_question()
            assert question is not None and self.handoffs is not None
            if now >= self.handoffs.close_at(question.time_limit_ms / 1000):
                return self._close_question(now)
            return []
        if self.deadline is None or now < self.deadline:
            return []
        if self.phase == Phase.LOBBY:
            return self.end_now(now)
        if self.phase == Phase.STARTING:
            return self._open_question(0, now)
        if self.phase == Phase.REVEAL:
            return self._after_reveal(now)
        if self.phase == Phase.ENDED and not self.finished:
            self.finished = True
            self.deadline = None
            return [fx.Finished()]
        return []

    def _next_seq(self) -> int:
        self.seq += 1
        return self.seq

    # ------------------------------------------------------------------ snapshots
    def to_snapshot(self, now: float) -> Snapshot:
        """Everything, for the first write of a quiz: (meta, participant records).  From
        now on the game keeps what ``take_changes`` reports."""
        self._track_changes()
        self._forget_changes()
        return meta_record(self, now), {pid: participant_record(self, p) for pid, p in self.participants.items()}

    def take_changes(self, now: float) -> Changes:
        """What to write since the last call: (meta, changed participants, removed ids)."""
        self._track_changes()
        if self.handoffs is not None and self.handoffs.fresh:
            self.dirty.update(pid for pid in self.handoffs.fresh if pid in self.participants)
        changed = {
            pid: participant_record(self, self.participants[pid]) for pid in self.dirty if pid in self.participants
        }
        removed = list(self.removed)
        self._forget_changes()
        return meta_record(self, now), changed, removed

    def _track_changes(self) -> None:
        """A snapshot store reads the changes from now on: keep removals and fresh
        hand-offs for it.  Until one asks (a single node never does), they are not kept,
        so nothing grows with the players who came and went."""
        self.roster.track_removals = True
        if self.handoffs is not None:
            self.handoffs.track = True

    def _forget_changes(self) -> None:
        self.dirty.clear()
        self.removed.clear()
        if self.handoffs is not None:
            self.handoffs.fresh.clear()

    @classmethod
    def from_snapshot(
        cls,
        definition: QuizDefinition,
        settings: GameSettings,
        meta: Record,
        participants: dict[str, Record],
        now: float,
        wall_offset_ms: int,
        rng: random.Random | None = None,
    ) -> QuizGame:
        """Rebuild a quiz on this node, its clock frozen for the time nobody ran it
        (``quizd.game.snapshot.clock_shift``); what it restored is its starting point, so
        nothing of it counts as changed."""
        mono, shift = clock_shift(meta, now, wall_offset_ms)
        auto = meta.get("autoStart")
        game = cls(
            meta["quizId"],
            definition,
            settings,
            mono(meta["createdAt"]) or now,
            wall_offset_ms=wall_offset_ms,
            host_token=meta["hostToken"],
            auto_start=None if auto is None else AutoStart(auto[0], auto[1]),
            # Not the creation's seed: that would replay the names the quiz already holds.
            rng=rng if rng is not None else random.Random(f"{meta['quizId']}/{meta['savedAt']}"),
        )
        restore_into(game, meta, participants, mono, shift)
        game._throttle.last_at = now
        game._track_changes()
        game._forget_changes()
        return game
