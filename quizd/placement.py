"""Where quizzes run: the one seam between a single node and a cluster.

``Placement`` is chosen once, by the node (the composition root), and given to the
service, the gateway (its ``router``) and the drain.  ``LocalPlacement`` runs every
quiz in this process; ``quizd.cluster.placement.ClusterPlacement`` runs them on the
ring owner and reaches the others through the relay.  Nothing else asks which of the
two it is.
"""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path
from typing import Any, Protocol

import attrs
import orjson
import trio

from quizd.actors.actor import QuizActor
from quizd.actors.inbox import EndNow
from quizd.actors.recording import QuizRecorder
from quizd.actors.supervisor import Supervisor
from quizd.config import Config
from quizd.game.definitions import QuizDefinition
from quizd.game.namegen import shipped_words
from quizd.game.names import NamePolicy
from quizd.game.quiz import AutoStart, GameSettings, Phase, QuizGame
from quizd.gateway.delivery import LocalDelivery
from quizd.ops import metrics
from quizd.protocol import errors as E
from quizd.protocol.errors import ProtocolError
from quizd.router import LocalRouter, Router
from quizd.service_errors import ServiceError
from quizd.store.runtime import Store

log = logging.getLogger("quizd.service")

QUIZ_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# Blocking file I/O (results files) goes through worker threads, a few at a time.
FILE_LIMITER = trio.CapacityLimiter(4)

JsonObject = dict[str, Any]
# What a node at its [quizzes] max_quizzes tells the caller: a place frees up only when
# a quiz ends, so "soon" is seconds, not milliseconds.
QUIZ_CAP_RETRY_MS = 10_000


def quiz_cap_details() -> dict[str, object]:
    """The ``details`` of a ``server_busy`` refusal of a new quiz."""
    return {"retryAfterMs": QUIZ_CAP_RETRY_MS}


@attrs.frozen
class CreatedQuiz:
    quiz_id: str
    host_token: str


@attrs.frozen
class DrainClose:
    """How a drain closes the connections that are still open once the quizzes are done."""

    code: int
    reason: str


class Placement(Protocol):
    """Where quizzes are created, found, ended, and what a drain does with them."""

    supervisor: Supervisor
    router: Router

    def runs_here(self, quiz_id: str) -> bool:
        """Whether this node runs an actor for ``quiz_id``."""

    def live_quizzes(self) -> int:
        """Quizzes this node runs that have not ended."""

    async def run(self, info: dict[str, str], task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Start (a cluster node joins the ring, announcing ``info``); ``started`` once ready."""

    async def create(self, definition: QuizDefinition, quiz_id: str, auto_start: AutoStart | None) -> CreatedQuiz:
        """Create and start the quiz; ``ServiceError`` if it cannot be."""

    async def list_quizzes(self) -> list[JsonObject]: ...

    async def get_quiz(self, quiz_id: str) -> JsonObject: ...

    async def results(self, quiz_id: str) -> JsonObject: ...

    async def end_quiz(self, quiz_id: str) -> JsonObject: ...

    def stop_taking_new(self) -> None:
        """A drain started: no new quizzes here."""

    async def drain(self) -> DrainClose:
        """The drain's deadline passed: end or hand over what is left; how to close the rest."""


def name_policy(config: Config) -> NamePolicy:
    """The names mode and deny-list ``config`` sets, as the one object its quizzes share.

    When the node generates names, the word lists are read here, at start, so that no
    quiz reads a file in its turn."""
    policy = NamePolicy(config.quizzes.names, config.name_denylist)
    if policy.generates:
        shipped_words()
    return policy


def game_settings(config: Config, names: NamePolicy | None = None) -> GameSettings:
    q = config.quizzes
    return GameSettings(
        top_n=config.leaderboard.top_n,
        broadcast_interval_ms=config.leaderboard.interval_ms,
        max_players=q.max_players,
        linger_s=q.linger_s,
        lobby_timeout_s=q.lobby_timeout_s,
        names=names if names is not None else name_policy(config),
    )


class ResultsDirectory:
    """``results_dir/<quizId>.json``, written atomically in a worker thread."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def write(self, quiz_id: str, results: JsonObject) -> None:
        await trio.to_thread.run_sync(self._write_sync, quiz_id, orjson.dumps(results), limiter=FILE_LIMITER)

    def _write_sync(self, quiz_id: str, body: bytes) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = self.directory / f".{quiz_id}.json.tmp"
        tmp.write_bytes(body)
        tmp.replace(self.directory / f"{quiz_id}.json")

    async def read(self, quiz_id: str) -> JsonObject | None:
        path = self.directory / f"{quiz_id}.json"

        def _read() -> bytes | None:
            try:
                return path.read_bytes()
            except FileNotFoundError:
                return None

        body = await trio.to_thread.run_sync(_read, limiter=FILE_LIMITER)
        return orjson.loads(body) if body is not None else None


def recorder_for(store: Store | None, config: Config) -> QuizRecorder | None:
    """What this node's actors record through (None when ``[storage] url = "none"``)."""
    return QuizRecorder(store.writer, config.node.id) if store is not None else None


def results_directory(config: Config) -> ResultsDirectory | None:
    return ResultsDirectory(Path(config.quizzes.results_dir)) if config.quizzes.results_dir else None


class LocalPlacement:
    """A single node: every quiz is an actor of this process's supervisor.

    A cluster node uses one too, for what its own actors answer (describe, results,
    end) once the cluster has decided the quiz is here.
    """

    def __init__(
        self,
        config: Config,
        supervisor: Supervisor | None = None,
        store: Store | None = None,
        names: NamePolicy | None = None,
    ) -> None:
        self.node_id = config.node.id
        self.max_quizzes = config.quizzes.max_quizzes
        self.settings = game_settings(config, names)
        self.results_dir = results_directory(config)
        # The database: actors record into its writer; results of quizzes no longer live come from it.
        self.store = store
        self.recorder = recorder_for(store, config)
        self.supervisor = supervisor or Supervisor()
        self.router: Router = LocalRouter(self.supervisor)
        # Creations between the cap check and the actor's spawn, so that concurrent
        # requests cannot all pass the check while the count is still low.
        self._creating = 0

    def runs_here(self, quiz_id: str) -> bool:
        return quiz_id in self.supervisor.actors

    def live_quizzes(self) -> int:
        return sum(1 for a in self.supervisor.actors.values() if a.game.phase != Phase.ENDED)

    async def run(self, info: dict[str, str], task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()

    def refuse_over_cap(self) -> None:
        """``server_busy`` (503 with ``details.retryAfterMs``) when this node already runs
        ``[quizzes] max_quizzes`` live quizzes; each refusal is counted.

        Without a cap, 5,000 quizzes were created in 6.5 s at ~14 KiB each: memory an
        unauthenticated-looking burst of valid admin calls could take without limit.
        """
        if self.live_quizzes() + self._creating < self.max_quizzes:
            return
        metrics.QUIZZES_REFUSED.inc()
        raise ServiceError(
            503,
            "server_busy",
            f"node {self.node_id} already runs {self.max_quizzes} live quizzes "
            "([quizzes] max_quizzes); retry later or elsewhere",
            quiz_cap_details(),
        )

    async def create(self, definition: QuizDefinition, quiz_id: str, auto_start: AutoStart | None) -> CreatedQuiz:
        self.refuse_over_cap()
        self._creating += 1
        try:
            return await self._create(definition, quiz_id, auto_start)
        finally:
            self._creating -= 1

    async def _create(self, definition: QuizDefinition, quiz_id: str, auto_start: AutoStart | None) -> CreatedQuiz:
        now = trio.current_time()
        game = QuizGame(
            quiz_id,
            definition,
            self.settings,
            now,
            wall_offset_ms=round(time.time() * 1000 - now * 1000),
            auto_start=auto_start,
        )
        actor = QuizActor(game, LocalDelivery(quiz_id), self.results_dir, recorder=self.recorder)
        await self.supervisor.spawn(actor)
        log.info("quiz created", extra={"quizId": quiz_id, "definitionId": definition.id})
        return CreatedQuiz(quiz_id, game.host_token)

    async def list_quizzes(self) -> list[JsonObject]:
        return [self._describe(actor, brief=True) for actor in self.supervisor.actors.values()]

    async def get_quiz(self, quiz_id: str) -> JsonObject:
        return self._describe(self._actor(quiz_id), brief=False)

    def _describe(self, actor: QuizActor, *, brief: bool) -> JsonObject:
        summary = actor.game.summary()
        if brief:
            summary.pop("questionIndex")
        summary["node"] = self.node_id
        return summary

    async def results(self, quiz_id: str) -> JsonObject:
        actor = self.supervisor.actors.get(quiz_id)
        if actor is None:
            stored = await self.stored_results(quiz_id)
            if stored is None:
                raise ServiceError(404, "quiz_not_found", f"no quiz {quiz_id!r}")
            return stored
        if not actor.game.closed_questions and actor.game.phase != Phase.ENDED:
            raise ServiceError(404, "results_not_ready", "no question of this quiz has closed yet")
        return actor.game.results()

    async def stored_results(self, quiz_id: str) -> JsonObject | None:
        """An ended quiz's results from ``results_dir``, else the database (any node, any time)."""
        if not QUIZ_ID_RE.fullmatch(quiz_id):
            return None
        stored = await self.results_dir.read(quiz_id) if self.results_dir else None
        if stored is None and self.store is not None:
            try:
                stored = await self.store.results(quiz_id)
            except Exception as exc:  # the database away: say so, do not crash the request
                log.warning("results: the database is unavailable: %s", type(exc).__name__, extra={"quizId": quiz_id})
                raise ServiceError(503, "server_busy", "the database is unavailable; retry") from None
        return stored

    async def end_quiz(self, quiz_id: str) -> JsonObject:
        actor = self._actor(quiz_id)
        request = EndNow("ended over HTTP")
        try:
            actor.post(request)
            with trio.move_on_after(10):
                await request.reply.wait()
        except ProtocolError as err:
            if err.code != "quiz_ended":
                raise ServiceError(503, "server_busy", err.message) from None
        return {"quizId": quiz_id, "phase": Phase.ENDED}

    def stop_taking_new(self) -> None:
        """Nothing to do: the service refuses new quizzes while draining."""

    async def drain(self) -> DrainClose:
        """End every live quiz (standings out, players 4004); the rest are closed too."""
        requests = []
        for actor in list(self.supervisor.actors.values()):
            if actor.game.phase != Phase.ENDED:
                request = EndNow("node draining")
                try:
                    actor.post(request)
                except Exception:
                    continue
                requests.append(request)
        with trio.move_on_after(10):
            for request in requests:
                try:
                    await request.reply.wait()
                except Exception:
                    pass
        return DrainClose(E.CLOSE_QUIZ_CLOSED, "node shutting down")

    def _actor(self, quiz_id: str) -> QuizActor:
        actor = self.supervisor.actors.get(quiz_id)
        if actor is None:
            raise ServiceError(404, "quiz_not_found", f"no quiz {quiz_id!r}")
        return actor
