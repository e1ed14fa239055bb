"""One live quiz as a Trio actor.

The actor owns a ``QuizGame`` (the sans-IO state machine), an inbox memory channel
and a nursery.  Its loop waits for the next inbox item or the game's next deadline
(question timer, reveal, countdown, throttled leaderboard/participant broadcasts),
whichever comes first, feeds the event to the game, and carries out the effects
through its ``Delivery`` port.  It is the only task that touches its game.

Timers are deadlines the game computes, not sleeping tasks: one ``move_on_at`` around
the inbox read covers them all, and under ``MockClock`` the whole quiz runs in
virtual time.  Items that arrived before a deadline are processed before the timer
fires, so an answer is judged by the time it arrived, never by when the actor got to it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

import trio

from quizd.actors.flow import Flow
from quizd.actors.inbox import (
    Command,
    ConnectionLost,
    EndNow,
    Flush,
    HandoffReport,
    HandOver,
    InboxItem,
    JoinRequest,
    SlotState,
    UndoJoin,
)
from quizd.actors.ports import CommitPort, Delivery, ResultsSink
from quizd.actors.recording import QuizRecorder
from quizd.game import effects as fx
from quizd.game.phase import Phase
from quizd.game.quiz import QuizGame
from quizd.ops import gc_tuning, metrics
from quizd.protocol import errors as E
from quizd.protocol.errors import ProtocolError
from quizd.protocol.messages import AnswerPayload, GetPlayersPayload, KickPayload, NextPayload, encode

log = logging.getLogger("quizd.actor")

INBOX_SIZE = 65536
# How many queued inbox items one loop turn handles before checking timers again.
BATCH = 512
# A leaderboard fan-out waits one DEFER_WINDOW_S, and then while answers come in a
# burst: while at least this many inbox items are queued, or were handled within the
# last one to two DEFER_WINDOW_S (``quizd.actors.flow``: 1,280-2,560 items/s or more),
# for at most DEFER_MAX_S (then it goes out anyway, as the newest one).  Steady answers
# (10,000 players over a 20 s question: about 500/s) hold it back one window only.
DEFER_BACKLOG = 64
DEFER_WINDOW_S = 0.025
DEFER_MAX_S = 1.0
# Single node (nothing to make durable first): the effects of this many items go out
# together, so a burst of answers pays one flush (encode, send, gauges, store events) per
# group rather than per answer, and the first of a group waits for at most that many.
ANSWER_EVERY = 16


class QuizActor:
    def __init__(
        self,
        game: QuizGame,
        delivery: Delivery,
        results: ResultsSink | None = None,
        *,
        store: CommitPort | None = None,
        recorder: QuizRecorder | None = None,
        on_phase: Callable[[Phase | None, Phase | None], None] = lambda old, new: None,
    ) -> None:
        self.game = game
        self.quiz_id = game.quiz_id
        self.delivery = delivery
        self.results = results
        # Cluster mode: changes are made durable (fenced snapshot) before they are told.
        self.store = store
        # What happened, for the database (never awaited); None with [storage] url = "none".
        self.recorder = recorder
        self._history_recorded = False
        self._pending: list[fx.Effect] = []
        self._after: list[Callable[[], None]] = []
        # Joins claimed this turn (their gateway waits for the answer, however long the
        # commit takes), with the participant once accepted: answered at the flush, or
        # failed (and undone) if the turn is lost, so no waiter waits forever.
        self._claimed: dict[JoinRequest, str | None] = {}
        self._events = 0
        self._handing_over: HandOver | None = None
        self._replaceable_scope: trio.CancelScope | None = None
        # A replaceable broadcast (type, body) waiting for a burst of answers, and since
        # when the first of those it replaced began to wait.
        self._deferred: tuple[str, bytes, float] | None = None
        # How many items the loop handled lately: a burst holds the leaderboard back.
        self._flow = Flow(DEFER_WINDOW_S)
        self.handed_over = False
        self._on_phase = on_phase
        self.inbox_send, self._inbox = trio.open_memory_channel[InboxItem](INBOX_SIZE)
        self._nursery: trio.Nursery | None = None
        self._phase: Phase | None = None
        self._players = 0
        self._correct = 0
        self._wrong = 0
        self.finished = False
        # The item being handled; still set after a crash, so the restarted actor
        # answers it with ``internal`` instead of handling it again.
        self.poisoned: InboxItem | None = None
        # Where the item being handled started adding effects (pending, after).
        self._marks = (0, 0)

    # ------------------------------------------------------------------ entry points
    def post(self, item: InboxItem) -> None:
        """Queue an item; ``server_busy`` when the inbox is full (never blocks)."""
        if self.finished:
            raise self._gone_error()
        try:
            self.inbox_send.send_nowait(item)
        except trio.WouldBlock:
            raise ProtocolError(E.SERVER_BUSY, "the quiz is busy", {"retryAfterMs": 500}) from None

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run until the quiz is over (ended and lingered).  Raises on a crash."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            self._sync_gauges()
            if self.recorder is not None and not self._history_recorded:
                # A new quiz, or (restored by a takeover) all it already holds: idempotent.
                # Not again after a crash: the writer already has what this actor recorded.
                self._history_recorded = True
                self.recorder.history(self.game, self.game.wall_ms(trio.current_time()))
            task_status.started()
            if self.poisoned is not None:
                # The item that crashed the previous run: answer it, never retry it.
                # Whatever the crashed turn had queued is dropped with it.
                item, self.poisoned = self.poisoned, None
                if self.store is None:
                    # Single node: the items handled before it in the same group changed
                    # the game for good, so what they said still goes out; only the
                    # crashed item's own effects are dropped.
                    del self._pending[self._marks[0] :]
                    del self._after[self._marks[1] :]
                else:
                    # Cluster: nothing of the crashed turn was made durable, so none of
                    # it is told (the game is restored from the store on takeover).
                    self._pending.clear()
                    self._after.clear()
                internal = ProtocolError(E.INTERNAL, "internal error; please retry")
                self._refuse(item, internal)
                self._release_claimed(internal, undo=True)
                await self._flush()
            await self._loop()
            self._refuse_leftovers()
            nursery.cancel_scope.cancel()

    # ------------------------------------------------------------------ the loop
    async def _loop(self) -> None:
        game = self.game
        while not self.finished:
            deadline = game.next_deadline()
            if self._deferred is not None:  # look again soon: the burst may be over
                recheck = trio.current_time() + DEFER_WINDOW_S
                deadline = recheck if deadline is None else min(deadline, recheck)
            item: InboxItem | None = None
            try:
                # What already arrived is handled before any timer, even a past-due one:
                # Trio's receive() gives up at once under an expired deadline.
                item = self._inbox.receive_nowait()
            except trio.WouldBlock:
                with trio.move_on_at(math.inf if deadline is None else deadline):
                    item = await self._inbox.receive()
            else:
                # A schedule point, so a busy quiz lets the connections run; without the
                # cancel scope a plain checkpoint opens (this runs once per loop turn).
                await trio.lowlevel.checkpoint_if_cancelled()
                await trio.lowlevel.cancel_shielded_checkpoint()
            if item is not None:
                self._handle(item)
                handled = 1
                while handled <= BATCH:
                    # No durability to wait for: answer soon; a join's waiter at once
                    # (so a group never holds a claimed join but a crashing one's).
                    if self.store is None and (handled % ANSWER_EVERY == 0 or self._claimed):
                        await self._flush()
                    try:
                        item = self._inbox.receive_nowait()
                    except trio.WouldBlock:
                        break
                    self._handle(item)
                    handled += 1
                self._flow.add(handled, trio.current_time())
            self._pending.extend(game.tick(trio.current_time()))
            # Group commit: everything this turn changed becomes durable in one write,
            # and only then does anybody hear about it.
            await self._flush()
            self._start_deferred()  # a leaderboard that waited for a burst, if it is over

    def _handle(self, item: InboxItem) -> None:
        """Feed one item to the game; its effects wait in ``_pending`` for the flush."""
        self.poisoned = item
        self._marks = (len(self._pending), len(self._after))
        self._events += 1
        try:
            if isinstance(item, Command):
                self._command(item)
            elif isinstance(item, JoinRequest):
                self._join(item)
            elif isinstance(item, ConnectionLost):
                if self.delivery.unbind(item.participant_id, item.endpoint):
                    self._pending.extend(self.game.disconnected(item.participant_id, trio.current_time()))
            elif isinstance(item, EndNow):
                self._pending.extend(self.game.end_now(trio.current_time()))
                self._after.append(lambda: item.reply.set(None))
            elif isinstance(item, HandOver):
                self._handing_over = item
            elif isinstance(item, Flush):
                self._after.append(lambda: None)  # forces this turn's commit
            elif isinstance(item, HandoffReport):
                self._record_handoffs(item)
            elif isinstance(item, UndoJoin):
                self._undo_join(item)
        except ProtocolError as err:
            self._refuse(item, err)
        self.poisoned = None

    def _record_handoffs(self, report: HandoffReport) -> None:
        """A remote gateway's hand-off times, if they are for the open question's log."""
        handoffs = self.game.handoffs
        if handoffs is None or handoffs.question_id != report.question_id:
            return
        for participant_id, at in report.times:
            handoffs.handed(participant_id, at)

    async def _flush(self) -> None:
        if not self._pending and not self._after and self._handing_over is None:
            self._claimed.clear()  # only refused joins, answered already
            return
        if self.store is not None:
            await self.store.commit(self.game, self._events)
        self._events = 0
        effects, self._pending = self._pending, []
        after, self._after = self._after, []
        claimed, self._claimed = self._claimed, {}
        try:
            await self._apply(effects)
        except Exception:
            # A crash while telling: the answers below never run, so these joins are
            # failed (and undone) here rather than left waiting for a lost turn.
            self._claimed = claimed
            self._release_claimed(ProtocolError(E.INTERNAL, "internal error; please retry"), undo=True)
            raise
        except BaseException:
            self._claimed = claimed  # stopped (cancelled): ``forget`` answers them
            raise
        if self.recorder is not None:
            self.recorder.effects(self.game, effects, self.game.wall_ms(trio.current_time()))
        for callback in after:
            callback()
        if self._handing_over is not None:
            request, self._handing_over = self._handing_over, None
            self._hand_over(request)

    def _hand_over(self, request: HandOver) -> None:
        """Durable and done here: every participant resumes on the next owner (1012)."""
        for pid in list(self.game.participants):
            self.delivery.close(pid, E.CLOSE_RESTARTING, request.reason)
        self.handed_over = True
        self.finished = True
        request.reply.set(None)

    def _gone_error(self) -> ProtocolError:
        """Why this actor takes nothing more: the quiz ended, or it only moved."""
        if self.handed_over or self._handing_over is not None:
            return ProtocolError(E.SERVER_BUSY, "the quiz is moving to another node; retry", {"retryAfterMs": 500})
        return ProtocolError(E.QUIZ_ENDED, "this quiz has ended")

    def _refuse_leftovers(self, gone: ProtocolError | None = None) -> None:
        """The quiz is over: nobody still waiting on the inbox may wait forever."""
        gone = gone or self._gone_error()
        while True:
            try:
                item = self._inbox.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                return
            if isinstance(item, Command) and self.handed_over:
                # Not refused but redirected: the sender resumes on the next owner.
                self.delivery.close(item.participant_id, E.CLOSE_RESTARTING, "quiz moved; resume")
            else:
                self._refuse(item, gone)
            self._flush_refusals()

    def _flush_refusals(self) -> None:
        """Errors queued after the loop stopped go out directly (no state changed)."""
        for effect in self._pending:
            if isinstance(effect, fx.Reply):
                self.delivery.send(
                    effect.participant_id, effect.type, encode(effect.type, effect.payload, effect.reply_to)
                )
        self._pending.clear()

    def _refuse(self, item: InboxItem, err: ProtocolError) -> None:
        if isinstance(item, JoinRequest):
            item.reply.fail(err)  # the gateway sends (and counts) the error
        elif isinstance(item, Command):
            metrics.count_error(err.code)
            if item.message.type == "answer":
                metrics.ANSWERS.labels("rejected").inc()
            if self.delivery.is_current(item.participant_id, item.endpoint):
                # Queued behind earlier effects, so a refusal never overtakes an ack.
                self._pending.append(fx.Reply(item.participant_id, "error", err.payload(), item.message.id))
        elif isinstance(item, (EndNow, HandOver)):
            metrics.count_error(err.code)
            item.reply.fail(err)

    def _release_claimed(self, err: ProtocolError, *, undo: bool) -> None:
        """The turn that claimed these joins will never answer them (a crash, or the
        actor stopping): fail each, and with ``undo`` (the same game runs on) unbind an
        accepted one and mark it disconnected, so it is not connected forever."""
        claimed, self._claimed = self._claimed, {}
        now = trio.current_time()
        for req, pid in claimed.items():
            if req.reply.state is not SlotState.CLAIMED:
                continue
            if undo and pid is not None and self.delivery.unbind(pid, req.endpoint):
                self._pending.extend(self.game.disconnected(pid, now))
            req.reply.fail(err)

    def _join(self, req: JoinRequest) -> None:
        if not req.reply.claim():
            return  # the gateway gave up on it (server_busy) before we got to it
        self._claimed[req] = None
        game = self.game
        if req.kind == "player":
            result = game.join_player(req.value, req.received_at, req.reply_to)
        elif req.value is None:  # only a player join comes without its value (a generated name)
            raise ProtocolError(E.INVALID_MESSAGE, "a resume or host join needs its token")
        else:
            result = game.resume(req.value, req.received_at, req.reply_to, host=req.kind == "host")
        pid = result.participant_id
        self._claimed[req] = pid
        self.delivery.bind(pid, req.endpoint)
        self._pending.extend(result.effects)
        self._after.append(lambda: req.reply.set(pid))

    def _undo_join(self, undo: UndoJoin) -> None:
        """A join accepted here that its gateway had already given up on (cluster): the
        connection never became this participant, so it is unbound; a new player leaves
        (its name is free, ``player_left`` tells the host), anyone else is disconnected."""
        pid = undo.participant_id
        if not self.delivery.unbind(pid, undo.endpoint):
            return  # replaced, kicked or gone meanwhile: nothing is bound to that connection
        now = trio.current_time()
        if undo.new_player:
            self._pending.extend(self.game.leave(pid, now))
        else:
            self._pending.extend(self.game.disconnected(pid, now))

    def _command(self, cmd: Command) -> None:
        if not self.delivery.is_current(cmd.participant_id, cmd.endpoint):
            return  # a connection that was replaced (4002) or removed says nothing more
        game = self.game
        msg = cmd.message
        pid = cmd.participant_id
        if pid not in game.participants:
            raise ProtocolError(E.INVALID_RESUME_TOKEN, "you are no longer in this quiz")
        now = trio.current_time()
        match msg.type, msg.payload:
            case "answer", AnswerPayload() as answer:
                self._pending.extend(game.answer(pid, answer.questionId, answer.answer, cmd.received_at, msg.id))
                received = cmd.received_at
                self._after.append(lambda: metrics.ANSWER_SECONDS.observe(trio.current_time() - received))
            case "get_leaderboard", _:
                self._pending.extend(game.get_leaderboard(pid, msg.id))
            case "leave", _:
                self._pending.extend(game.leave(pid, now))
            case "start", _:
                self._pending.extend(game.start(pid, now, msg.id))
            case "next", NextPayload() as guard:
                self._pending.extend(game.next(pid, now, guard.questionIndex, msg.id))
            case "end", _:
                self._pending.extend(game.end(pid, now, msg.id))
            case "get_players", GetPlayersPayload() as page:
                self._pending.extend(game.get_players(pid, page.after, page.limit, msg.id))
            case "kick", KickPayload() as kick:
                self._pending.extend(game.kick(pid, kick.participantId, now, msg.id))
            case kind, _:
                raise ProtocolError(E.UNKNOWN_TYPE, f"{kind!r} is not handled by the quiz")

    # ------------------------------------------------------------------ effects
    async def _apply(self, effects: list[fx.Effect]) -> None:
        delivery = self.delivery
        carried = -1  # a leaderboard that went out with the broadcast before it
        for i, effect in enumerate(effects):
            if isinstance(effect, fx.Reply):
                delivery.send(effect.participant_id, effect.type, encode(effect.type, effect.payload, effect.reply_to))
            elif isinstance(effect, fx.Broadcast):
                if i != carried and await self._broadcast(effect, effects[i + 1] if i + 1 < len(effects) else None):
                    carried = i + 1
            elif isinstance(effect, fx.Close):
                delivery.close(effect.participant_id, effect.code, effect.reason)
            elif isinstance(effect, fx.ResultsReady):
                # Awaited, not spawned: whoever ended the quiz (a drain) knows the
                # results are on disk once the end is acknowledged.
                metrics.QUIZZES_ENDED.inc()
                if self.results is not None:
                    await self._write_results(effect.results)
            elif isinstance(effect, fx.Finished):
                self.finished = True
        self._sync_gauges()

    async def _broadcast(self, effect: fx.Broadcast, after: fx.Effect | None) -> bool:
        """Fan ``effect`` out; True when ``after``, the next effect, went out with it.

        That is a leaderboard right after another broadcast that is not a question (the
        throttle's ``participants`` in a filling lobby, a ``question_closed``): that one
        goes to everyone now anyway, so the leaderboard goes in the same write, not in a
        fan-out of its own, and is newer than one waiting for a burst or still fanning
        out in the background, which are dropped."""
        if (
            isinstance(after, fx.Broadcast)
            and after.replaceable
            and not effect.replaceable
            and effect.question_id is None
        ):
            self._drop_older_leaderboards()
            start = trio.current_time()
            await self.delivery.broadcast_pair(
                effect.type, encode(effect.type, effect.payload), after.type, encode(after.type, after.payload)
            )
            metrics.FANOUT_SECONDS.observe(trio.current_time() - start)
            return True
        if effect.replaceable and self._nursery is not None:
            # A leaderboard may arrive late or be replaced, never block answers: it
            # fans out in the background, a newer one cancels an unfinished one, and
            # while answers are queued it waits for them (``_start_deferred``).
            since = trio.current_time() if self._deferred is None else self._deferred[2]
            self._deferred = (effect.type, encode(effect.type, effect.payload), since)
            self._start_deferred()
            return False
        if effect.question_id is not None or effect.type == "quiz_starting":
            # Players who just joined: the collection held while they arrived goes first
            # (in the countdown, if there is one), not among the question's answers.
            gc_tuning.settle_before_question()
        start = trio.current_time()
        await self.delivery.broadcast(
            effect.type,
            encode(effect.type, effect.payload),
            replaceable=effect.replaceable,
            handoff=self.game.handoffs if effect.question_id else None,
        )
        metrics.FANOUT_SECONDS.observe(trio.current_time() - start)
        return False

    def _start_deferred(self) -> None:
        """Start the waiting leaderboard's fan-out once it has waited ``DEFER_WINDOW_S``
        and no burst of answers is going on (queued, or handled at a burst's rate:
        ``Flow``), or once it has waited ``DEFER_MAX_S``: during a burst the node's time
        goes to the answers (each fan-out writes to every player), and the leaderboard,
        replaceable anyway, goes out when the burst is over, as the newest one.  While
        one waits, the loop looks again every ``DEFER_WINDOW_S``."""
        if self._deferred is None or self._nursery is None:
            return
        msg_type, body, since = self._deferred
        now = trio.current_time()
        backlog = self._inbox.statistics().current_buffer_used
        burst = backlog >= DEFER_BACKLOG or self._flow.recent(now) >= DEFER_BACKLOG
        waited = now - since
        # Every one waits a window first: the first answers of a burst are too few to
        # tell it, and a fan-out started then would hold up all the rest.
        if waited < DEFER_MAX_S and (burst or waited < DEFER_WINDOW_S):
            return
        self._drop_older_leaderboards()
        self._nursery.start_soon(self._broadcast_in_background, msg_type, body)

    def _drop_older_leaderboards(self) -> None:
        """A newer leaderboard is going out: the one waiting for a burst, and the one
        still fanning out in the background, are dropped."""
        self._deferred = None
        if self._replaceable_scope is not None:
            self._replaceable_scope.cancel()

    async def _broadcast_in_background(self, msg_type: str, body: bytes) -> None:
        with trio.CancelScope() as scope:
            self._replaceable_scope = scope
            start = trio.current_time()
            await self.delivery.broadcast(msg_type, body, replaceable=True)
            metrics.FANOUT_SECONDS.observe(trio.current_time() - start)
        if self._replaceable_scope is scope:
            self._replaceable_scope = None

    async def _write_results(self, results: dict[str, Any]) -> None:
        assert self.results is not None
        try:
            await self.results.write(self.quiz_id, results)
        except Exception:
            log.exception("could not write results", extra={"quizId": self.quiz_id})

    def _sync_gauges(self) -> None:
        game = self.game
        phase = None if self.finished else game.phase
        if phase != self._phase:
            if self._phase is not None:
                metrics.QUIZZES_LIVE.labels(self._phase).dec()
            if phase is not None:
                metrics.QUIZZES_LIVE.labels(phase).inc()
            self._on_phase(self._phase, phase)
            self._phase = phase
        players = 0 if self.finished else game.player_count
        if players != self._players:
            metrics.PLAYERS.inc(players - self._players)
            self._players = players
        if game.answers_correct != self._correct:
            metrics.ANSWERS.labels("correct").inc(game.answers_correct - self._correct)
            self._correct = game.answers_correct
        if game.answers_wrong != self._wrong:
            metrics.ANSWERS.labels("wrong").inc(game.answers_wrong - self._wrong)
            self._wrong = game.answers_wrong

    def forget(self, reason: ProtocolError | None = None) -> None:
        """Stop for good: leave the gauges, and answer whatever is still queued."""
        self.finished = True
        self._sync_gauges()
        if self._handing_over is not None:
            # Stopped before the hand-over finished (e.g. the quiz was lost meanwhile):
            # whoever asked for it must not wait for a turn that will never come.
            self._handing_over.reply.set(None)
            self._handing_over = None
        self._release_claimed(reason or self._gone_error(), undo=False)
        self._refuse_leftovers(reason)
        self._flush_refusals()
        self.inbox_send.close()
