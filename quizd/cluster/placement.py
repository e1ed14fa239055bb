"""``ClusterPlacement``: quizzes live on the ring owner of their id, anywhere in the cluster.

The node chooses it when ``[cluster] redis_url`` is set.  Creating a quiz goes to its
ring owner (by RPC when that is another node); listing and describing read the
snapshots' ``meta`` in Redis; results and end go to the lease holder; a drain hands
every quiz over instead of ending it.  What this node's own actors answer is the
``LocalPlacement``'s business.  While Redis is away, requests answer 503.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import redis
import trio

from quizd.actors.supervisor import Supervisor
from quizd.cluster.manager import ClusterManager, ClusterRouter
from quizd.cluster.messages import RpcCall, RpcOp
from quizd.config import Config
from quizd.game.definitions import QuizDefinition
from quizd.game.names import NamePolicy
from quizd.game.quiz import AutoStart
from quizd.placement import (
    CreatedQuiz,
    DrainClose,
    JsonObject,
    LocalPlacement,
    game_settings,
    name_policy,
    quiz_cap_details,
    recorder_for,
    results_directory,
)
from quizd.protocol import errors as E
from quizd.router import Router
from quizd.service_errors import ServiceError
from quizd.store.runtime import Store


@contextmanager
def store_unavailable_is_busy() -> Iterator[None]:
    """A Redis failure during a control-plane request is a 503 ``server_busy``."""
    try:
        yield
    except redis.RedisError:
        raise ServiceError(503, "server_busy", "the cluster store is unavailable; retry") from None


class ClusterPlacement:
    def __init__(
        self,
        config: Config,
        definitions: Callable[[str], Awaitable[QuizDefinition | None]],
        store: Store | None = None,
        names: NamePolicy | None = None,
    ) -> None:
        self._definitions = definitions
        self.node_id = config.node.id
        names = names if names is not None else name_policy(config)
        # The quiz's owner records what happened (a takeover replays it: writes are idempotent).
        self.manager = ClusterManager(
            config,
            game_settings(config, names),
            results_directory(config),
            self._serve_rpc,
            recorder=recorder_for(store, config),
        )
        self.supervisor: Supervisor = self.manager.supervisor
        self.local = LocalPlacement(config, self.supervisor, store, names)
        self.router: Router = ClusterRouter(self.manager)

    def runs_here(self, quiz_id: str) -> bool:
        return self.local.runs_here(quiz_id)

    def live_quizzes(self) -> int:
        return self.local.live_quizzes()

    async def run(self, info: dict[str, str], task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Join the ring (READY only once this node is a member) and keep the cluster tick."""
        self.manager.membership.set_info(info)
        await self.manager.run(task_status=task_status)

    async def create(self, definition: QuizDefinition, quiz_id: str, auto_start: AutoStart | None) -> CreatedQuiz:
        """Create on the ring owner; the owner's ``[quizzes] max_quizzes`` decides.

        A refusal relayed back from the owner loses its details on the way (the relay's
        failure carries status, code and message), so a ``server_busy`` without them
        gets the same ``retryAfterMs`` a local refusal has.
        """
        if (self.manager.membership.owner(quiz_id) or self.node_id) == self.node_id:
            self.local.refuse_over_cap()
        try:
            with store_unavailable_is_busy():
                created_id, host_token = await self.manager.create(definition, quiz_id, auto_start)
        except ServiceError as err:
            if err.code != "server_busy" or err.details is not None:
                raise
            raise ServiceError(err.status, err.code, err.message, quiz_cap_details()) from err
        return CreatedQuiz(created_id, host_token)

    async def list_quizzes(self) -> list[JsonObject]:
        return await self._registered(None)

    async def get_quiz(self, quiz_id: str) -> JsonObject:
        found = await self._registered(quiz_id)
        if not found:
            raise ServiceError(404, "quiz_not_found", f"no quiz {quiz_id!r}")
        return found[0]

    async def _registered(self, only: str | None) -> list[JsonObject]:
        """Every quiz of the cluster (or one), from the snapshots in Redis."""
        store = self.manager.store
        with store_unavailable_is_busy():
            registered = await store.registered()
            ids = [only] if only is not None else sorted(registered)
            ids = [q for q in ids if q in registered]
            metas = await store.meta(ids)
            holders = await self.manager.holders(ids)
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

    async def results(self, quiz_id: str) -> JsonObject:
        """The live quiz's (from its lease holder), else the ended quiz's from the database,
        which every node shares: its owner may be long gone."""
        if not self.local.runs_here(quiz_id):
            remote: JsonObject | None = await self._on_holder(quiz_id, RpcOp.RESULTS)
            if remote is not None:
                return remote
        return await self.local.results(quiz_id)

    async def end_quiz(self, quiz_id: str) -> JsonObject:
        if not self.local.runs_here(quiz_id):
            remote: JsonObject | None = await self._on_holder(quiz_id, RpcOp.END)
            if remote is not None:
                return remote
        return await self.local.end_quiz(quiz_id)

    async def _on_holder(self, quiz_id: str, op: RpcOp) -> Any:
        """Run ``op`` on the node that holds the quiz's lease, or None when that is nobody else."""
        with store_unavailable_is_busy():
            holder = await self.manager.leases.holder(quiz_id)
            if holder is None or holder[0] == self.node_id:
                return None
            return await self.manager.relay.gateway.rpc(holder[0], op, quiz_id)

    async def _serve_rpc(self, call: RpcCall) -> Any:
        """Requests relayed from another node to this one, the quiz's (ring or lease) owner."""
        if call.op is RpcOp.CREATE:
            definition = await self._definitions(call.definition_id or "")
            if definition is None:
                raise ServiceError(404, "definition_not_found", f"no quiz definition {call.definition_id!r}")
            self.local.refuse_over_cap()
            quiz_id, host_token = await self.manager.create(definition, call.quiz_id, call.auto_start)
            return {"quizId": quiz_id, "hostToken": host_token}
        if call.op is RpcOp.END:
            return await self.end_quiz(call.quiz_id)
        return await self.results(call.quiz_id)

    def stop_taking_new(self) -> None:
        self.manager.refuse_new = True

    async def drain(self) -> DrainClose:
        """Nothing ends: the quizzes move to the next owners, players resume there."""
        await self.manager.leave()
        return DrainClose(E.CLOSE_RESTARTING, "node draining; resume")
