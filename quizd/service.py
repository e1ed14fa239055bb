"""The node's quiz service: create, list, inspect and end quizzes; reload definitions.

This is what the HTTP control plane calls.  It owns the current definition set (a
SIGHUP swaps it; live quizzes keep the ``QuizDefinition`` object they started with)
and creates quiz actors in the supervisor.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from pathlib import Path
from typing import Any

import attrs
import orjson
import trio

from quizd.actors.actor import QuizActor
from quizd.actors.inbox import EndNow
from quizd.actors.supervisor import Supervisor
from quizd.config import Config
from quizd.config import DefinitionSet
from quizd.game.quiz import AutoStart, GameSettings, QuizGame
from quizd.gateway.delivery import LocalDelivery
from quizd.ops import metrics
from quizd.protocol.errors import ProtocolError

log = logging.getLogger("quizd.service")

QUIZ_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# Blocking file I/O (results files) goes through worker threads, a few at a time.
FILE_LIMITER = trio.CapacityLimiter(4)


class ServiceError(Exception):
    """A refused control-plane request: HTTP status, error code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@attrs.frozen
class CreatedQuiz:
    quiz_id: str
    host_token: str


class ResultsDirectory:
    """``results_dir/<quizId>.json``, written atomically in a worker thread."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def write(self, quiz_id: str, results: dict[str, Any]) -> None:
        await trio.to_thread.run_sync(self._write_sync, quiz_id, orjson.dumps(results), limiter=FILE_LIMITER)

    def _write_sync(self, quiz_id: str, body: bytes) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = self.directory / f".{quiz_id}.json.tmp"
        tmp.write_bytes(body)
        tmp.replace(self.directory / f"{quiz_id}.json")

    async def read(self, quiz_id: str) -> dict[str, Any] | None:
        path = self.directory / f"{quiz_id}.json"

        def _read() -> bytes | None:
            try:
                return path.read_bytes()
            except FileNotFoundError:
                return None

        body = await trio.to_thread.run_sync(_read, limiter=FILE_LIMITER)
        return orjson.loads(body) if body is not None else None


class QuizService:
    def __init__(self, config: Config, supervisor: Supervisor, definitions: DefinitionSet) -> None:
        self.config = config
        self.supervisor = supervisor
        self.definitions = definitions
        self.draining = False
        q = config.quizzes
        self.settings = GameSettings(
            top_n=config.leaderboard.top_n,
            leaderboard_interval_ms=config.leaderboard.interval_ms,
            max_players=q.max_players,
            linger_s=q.linger_s,
            lobby_timeout_s=q.lobby_timeout_s,
        )
        self.results_dir = ResultsDirectory(Path(q.results_dir)) if q.results_dir else None
        # Set by the node in cluster mode: quizzes may live on any member.
        self.cluster: Any = None

    @property
    def node_id(self) -> str:
        return self.config.node.id

    # ------------------------------------------------------------------ definitions
    def list_definitions(self) -> list[dict[str, Any]]:
        return [
            {"id": d.id, "title": d.title, "questionCount": d.question_count}
            for d in sorted(self.definitions.definitions.values(), key=lambda d: d.id)
        ]

    def replace_definitions(self, definitions: DefinitionSet) -> None:
        self.definitions = definitions

    # ------------------------------------------------------------------ quizzes
    async def create_quiz(
        self, definition_id: str, quiz_id: str | None = None, auto_start: AutoStart | None = None
    ) -> CreatedQuiz:
        if self.draining:
            raise ServiceError(503, "server_busy", "this node is draining; create the quiz elsewhere")
        definition = self.definitions.definitions.get(definition_id)
        if definition is None:
            raise ServiceError(404, "definition_not_found", f"no quiz definition {definition_id!r}")
        if quiz_id is None:
            quiz_id = self._new_quiz_id()
        elif not QUIZ_ID_RE.fullmatch(quiz_id):
            raise ServiceError(422, "invalid_body", "quizId must be 1 to 64 of A-Z a-z 0-9 _ -")
        if quiz_id in self.supervisor.actors:
            raise ServiceError(409, "quiz_exists", f"quiz {quiz_id!r} already exists")
        if self.cluster is not None:
            async with self._cluster_errors():
                created_id, host_token = await self.cluster.create(definition, quiz_id, auto_start)
            metrics.QUIZZES_CREATED.inc()
            return CreatedQuiz(created_id, host_token)
        now = trio.current_time()
        game = QuizGame(
            quiz_id,
            definition,
            self.settings,
            now,
            wall_offset_ms=round(time.time() * 1000 - now * 1000),
            auto_start=auto_start,
        )
        actor = QuizActor(game, LocalDelivery(quiz_id), self.results_dir)
        await self.supervisor.spawn(actor)
        metrics.QUIZZES_CREATED.inc()
        log.info("quiz created", extra={"quizId": quiz_id, "definitionId": definition_id})
        return CreatedQuiz(quiz_id, game.host_token)

    def _new_quiz_id(self) -> str:
        while True:
            quiz_id = secrets.token_hex(4)
            if quiz_id not in self.supervisor.actors:
                return quiz_id

    async def list_quizzes(self) -> list[dict[str, Any]]:
        if self.cluster is not None:
            return await self._cluster_quizzes(None)
        return [self._describe(actor, brief=True) for actor in self.supervisor.actors.values()]

    async def get_quiz(self, quiz_id: str) -> dict[str, Any]:
        if self.cluster is not None:
            found = await self._cluster_quizzes(quiz_id)
            if not found:
                raise ServiceError(404, "quiz_not_found", f"no quiz {quiz_id!r}")
            return found[0]
        return self._describe(self._actor(quiz_id), brief=False)

    async def _cluster_quizzes(self, only: str | None) -> list[dict[str, Any]]:
        """Every quiz of the cluster (or one), from the snapshots in Redis."""
        async with self._cluster_errors():
            registered = await self.cluster.store.registered()
            ids = [only] if only is not None else sorted(registered)
            ids = [q for q in ids if q in registered]
            metas = await self.cluster.store.meta(ids)
            holders = await self.cluster.holders(ids)
        out = []
        for quiz_id in ids:
            meta = metas.get(quiz_id)
            if meta is None:
                continue
            entry = {
                "quizId": quiz_id,
                "definitionId": registered[quiz_id],
                "phase": meta["phase"],
                "participants": meta.get("players", 0),
                "node": holders.get(quiz_id),
            }
            if only is not None:
                entry["questionIndex"] = meta["questionIndex"]
            out.append(entry)
        return out

    def _cluster_errors(self) -> Any:
        return _ClusterErrors()

    async def rpc(self, op: str, args: dict[str, Any]) -> Any:
        """Requests relayed from another node to this one, the quiz's owner."""
        if op == "create":
            definition = self.definitions.definitions.get(args["definitionId"])
            if definition is None:
                raise ServiceError(404, "definition_not_found", f"no quiz definition {args['definitionId']!r}")
            auto = args.get("autoStart")
            quiz_id, host_token = await self.cluster.create(
                definition, args["quizId"], None if auto is None else AutoStart(auto[0], auto[1])
            )
            return {"quizId": quiz_id, "hostToken": host_token}
        if op == "end":
            return await self.end_quiz(args["quizId"])
        if op == "results":
            return await self.results(args["quizId"])
        raise ServiceError(400, "bad_rpc", f"unknown operation {op!r}")

    async def _on_owner(self, quiz_id: str, op: str) -> Any:
        """Run ``op`` on the node that holds the quiz (cluster mode), or None."""
        async with self._cluster_errors():
            holder = await self.cluster.leases.holder(quiz_id)
            if holder is None or holder[0] == self.node_id:
                return None
            return await self.cluster.relay.rpc(holder[0], op, {"quizId": quiz_id})

    def _describe(self, actor: QuizActor, *, brief: bool) -> dict[str, Any]:
        summary = actor.game.summary()
        if brief:
            summary.pop("questionIndex")
        summary["node"] = self.node_id
        return summary

    async def results(self, quiz_id: str) -> dict[str, Any]:
        actor = self.supervisor.actors.get(quiz_id)
        if actor is None and self.cluster is not None:
            remote = await self._on_owner(quiz_id, "results")
            if remote is not None:
                return remote
        if actor is None:
            stored = await self.results_dir.read(quiz_id) if self.results_dir and QUIZ_ID_RE.fullmatch(quiz_id) else None
            if stored is None:
                raise ServiceError(404, "quiz_not_found", f"no quiz {quiz_id!r}")
            return stored
        if not actor.game.closed_questions and actor.game.phase != "ended":
            raise ServiceError(404, "results_not_ready", "no question of this quiz has closed yet")
        return actor.game.results()

    async def end_quiz(self, quiz_id: str) -> dict[str, Any]:
        if quiz_id not in self.supervisor.actors and self.cluster is not None:
            remote = await self._on_owner(quiz_id, "end")
            if remote is not None:
                return remote
        actor = self._actor(quiz_id)
        request = EndNow("ended over HTTP")
        try:
            actor.post(request)
            with trio.move_on_after(10):
                await request.reply.wait()
        except ProtocolError as err:
            if err.code != "quiz_ended":
                raise ServiceError(503, "server_busy", err.message) from None
        return {"quizId": quiz_id, "phase": "ended"}

    async def end_all(self, reason: str) -> None:
        """End every live quiz (single-node drain): standings out, players 4004."""
        requests = []
        for actor in list(self.supervisor.actors.values()):
            if actor.game.phase != "ended":
                request = EndNow(reason)
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

    def live_quizzes(self) -> int:
        return sum(1 for a in self.supervisor.actors.values() if a.game.phase != "ended")

    def _actor(self, quiz_id: str) -> QuizActor:
        actor = self.supervisor.actors.get(quiz_id)
        if actor is None:
            raise ServiceError(404, "quiz_not_found", f"no quiz {quiz_id!r}")
        return actor


class _ClusterErrors:
    """Map cluster failures to control-plane errors (503 while Redis is away)."""

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        if exc is None:
            return False
        from quizd.cluster.relay import RpcError

        if isinstance(exc, RpcError):
            raise ServiceError(exc.status, exc.code, exc.message) from None
        import redis

        if isinstance(exc, redis.RedisError):
            raise ServiceError(503, "server_busy", "the cluster store is unavailable; retry") from None
        return False
