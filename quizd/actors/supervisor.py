"""The supervisor: runs every quiz actor and restarts one that crashed.

Each actor runs in the supervisor's nursery under its own ``_supervise`` task, which
catches the actor's exception, so a crash can never reach the nursery and cancel the
other quizzes or the node.  A crashed actor restarts with the state its game had
after the last event it completed: game handlers validate before they mutate, and
the event that crashed it is marked poisoned, answered with ``internal`` and
skipped.  One quiz id runs at most once: ``spawn`` refuses a second copy.  An actor
that keeps crashing (more than ``max_restarts`` within
``restart_window_s``) is given up: its players are closed with 1011.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import trio

from quizd.actors.actor import QuizActor
from quizd.actors.ports import QuizLost
from quizd.ops import metrics
from quizd.protocol import errors as E
from quizd.protocol.errors import ProtocolError

log = logging.getLogger("quizd.supervisor")


class AlreadyRunning(Exception):
    """A copy of this quiz still runs in this supervisor."""

    def __init__(self, quiz_id: str) -> None:
        super().__init__(f"quiz {quiz_id!r} already runs here")
        self.quiz_id = quiz_id


class Supervisor:
    def __init__(
        self,
        *,
        max_restarts: int = 5,
        restart_window_s: float = 60.0,
        on_exit: Callable[[QuizActor], None] = lambda actor: None,
    ) -> None:
        self.actors: dict[str, QuizActor] = {}
        self.max_restarts = max_restarts
        self.restart_window_s = restart_window_s
        self.on_exit = on_exit
        self._nursery: trio.Nursery | None = None

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started()
            await trio.sleep_forever()

    async def spawn(self, actor: QuizActor) -> None:
        """Start ``actor`` and return once it is running (``nursery.start``).

        Raises ``AlreadyRunning`` while another copy of the quiz still runs here: two
        actors of one quiz would split its players and fight over its snapshot.
        """
        assert self._nursery is not None, "supervisor is not running"
        running = self.actors.get(actor.quiz_id)
        if running is not None:
            raise AlreadyRunning(actor.quiz_id)
        self.actors[actor.quiz_id] = actor
        await self._nursery.start(self._supervise, actor)

    async def _supervise(self, actor: QuizActor, task_status: trio.TaskStatus[None]) -> None:
        crashes: list[float] = []
        started = False
        reason: ProtocolError | None = None
        try:
            while True:
                try:
                    if not started:
                        await actor.run(task_status=task_status)
                    else:
                        await actor.run()
                    return
                except Exception as exc:
                    lost = _find(exc, QuizLost)
                    if lost is not None:
                        log.warning(
                            "quiz lost here; players resume elsewhere: %s", lost, extra={"quizId": actor.quiz_id}
                        )
                        actor.handed_over = True
                        for pid in list(actor.game.participants):
                            actor.delivery.close(pid, E.CLOSE_RESTARTING, "quiz moved; resume")
                        return
                    started = True
                    now = trio.current_time()
                    crashes = [t for t in crashes if now - t < self.restart_window_s] + [now]
                    metrics.ACTOR_CRASHES.inc()
                    log.exception("quiz actor crashed", extra={"quizId": actor.quiz_id})
                    if len(crashes) > self.max_restarts:
                        log.error("quiz actor keeps crashing; giving it up", extra={"quizId": actor.quiz_id})
                        self._give_up(actor)
                        reason = ProtocolError(E.INTERNAL, "this quiz failed and was stopped")
                        return
                    metrics.ACTOR_RESTARTS.inc()
                    await trio.sleep(min(0.05 * 2 ** (len(crashes) - 1), 2.0))
        finally:
            # ``spawn`` never lets two copies run, but the entry removed is always this one's.
            if self.actors.get(actor.quiz_id) is actor:
                del self.actors[actor.quiz_id]
            actor.forget(reason)
            self.on_exit(actor)

    def _give_up(self, actor: QuizActor) -> None:
        for pid in list(actor.game.participants):
            try:
                actor.delivery.close(pid, E.CLOSE_INTERNAL, "internal error")
            except Exception:  # pragma: no cover - best effort while giving up
                log.exception("could not close participant", extra={"quizId": actor.quiz_id})

    def cancel(self) -> None:
        if self._nursery is not None:
            self._nursery.cancel_scope.cancel()


def _find(exc: BaseException, kind: type[BaseException]) -> BaseException | None:
    """``exc`` or the first ``kind`` inside (Trio wraps errors in exception groups)."""
    if isinstance(exc, kind):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _find(inner, kind)
            if found is not None:
                return found
    return None
