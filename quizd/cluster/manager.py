"""The cluster manager: which quizzes this node runs, and moving them when members change.

Every ``heartbeat_ms`` a node (1) heartbeats and refreshes its view of the members,
(2) renews the leases of its quizzes in one round trip, (3) reconciles: a registered
quiz that the ring gives to this node and nobody holds is *adopted* (lease, restore
from the snapshot, start the actor); a quiz this node runs that the ring now gives to
another live member is *handed over* (durable, players 1012, lease released).

When a member disappears, its gateways' players here are disconnected from the quizzes
this node owns, and this node's players in quizzes it owned are told to resume (1012).
"""

from __future__ import annotations

import logging
import secrets
import time
from typing import Any

import redis
import trio

from quizd.actors.actor import QuizActor
from quizd.actors.inbox import ConnectionLost, Flush, HandOver
from quizd.actors.ports import QuizLost, ResultsSink
from quizd.actors.recording import QuizRecorder
from quizd.actors.supervisor import AlreadyRunning, Supervisor
from quizd.cluster.coordination import REGISTRY, DuplicateNodeId, Leases, Membership, lease_key, new_nonce, parse_lease
from quizd.cluster.delivery import ClusterDelivery
from quizd.cluster.gateway_side import RemoteQuizHandle
from quizd.cluster.messages import CloseOne, RpcOp
from quizd.cluster.owner import RpcHandler
from quizd.cluster.redis_port import RedisPort
from quizd.cluster.redis_watch import RedisWatch
from quizd.cluster.relay import Relay
from quizd.cluster.store import Fenced, ReplicaWait, SnapshotStore
from quizd.config import Config
from quizd.game.definitions import QuizDefinition
from quizd.game.quiz import AutoStart, GameSettings, QuizGame
from quizd.ops import metrics
from quizd.protocol import errors as E
from quizd.protocol.errors import ProtocolError
from quizd.router import QuizHandle
from quizd.service_errors import ServiceError

log = logging.getLogger("quizd.cluster")


def wall_offset_ms(now: float) -> int:
    return round(time.time() * 1000 - now * 1000)


class LeasedStore:
    """The actor's commit port: fenced writes, retried through a Redis blip.

    A write that fails for want of Redis is retried (the acks simply wait) while the
    lease may still be valid; once it may have expired, the quiz is lost here and the
    actor stops (its players resume on whoever holds the lease next).
    """

    def __init__(self, store: SnapshotStore, token: str, lease_s: float) -> None:
        self.store = store
        self.token = token
        self.lease_s = lease_s
        self.last_ok = trio.current_time()
        self.resync = False

    def rebind(self, token: str) -> None:
        """The lease was taken again under a new epoch (Redis forgot it): write it all."""
        self.token = token
        self.resync = True

    async def commit(self, game: QuizGame, events: int) -> None:
        backoff = 0.02
        while True:
            try:
                if self.resync:
                    await self.store.create(game, self.token, trio.current_time())
                    self.resync = False
                else:
                    await self.store.commit(game, self.token, trio.current_time(), events)
                self.last_ok = trio.current_time()
                return
            except Fenced:
                raise QuizLost("another node holds this quiz's lease") from None
            except redis.RedisError as exc:
                if trio.current_time() - self.last_ok > self.lease_s:
                    raise QuizLost(f"Redis unreachable for longer than the lease: {exc}") from None
                log.warning("snapshot write failed; acks wait: %s", exc, extra={"quizId": game.quiz_id})
                await trio.sleep(backoff)
                backoff = min(backoff * 2, 0.5)


class ClusterRouter:
    """Where a quiz lives in the cluster: here, on the lease holder, or moving."""

    def __init__(self, manager: ClusterManager) -> None:
        self.manager = manager

    async def lookup(self, quiz_id: str) -> QuizHandle | None:
        manager = self.manager
        actor = manager.local_actor(quiz_id)
        if actor is not None:
            return actor
        busy = ProtocolError(E.SERVER_BUSY, "the quiz is being moved; retry", {"retryAfterMs": 500})
        try:
            holder = await manager.leases.holder(quiz_id)
            registered = holder is not None or await manager.is_registered(quiz_id)
        except redis.RedisError:
            raise ProtocolError(E.SERVER_BUSY, "cluster store unavailable; retry", {"retryAfterMs": 1000}) from None
        if holder is None:
            if registered:
                raise busy
            return None
        node, _epoch = holder
        if node == manager.node_id or not manager.membership.is_live(node):
            raise busy
        return RemoteQuizHandle(quiz_id, node, manager.relay.gateway)


class ClusterManager:
    def __init__(
        self,
        config: Config,
        settings: GameSettings,
        results: ResultsSink | None,
        on_rpc: RpcHandler,
        *,
        recorder: QuizRecorder | None = None,
    ) -> None:
        cluster = config.cluster
        self.config = config
        self.node_id = config.node.id
        self.supervisor = Supervisor(on_exit=self._actor_exited)
        self.settings = settings
        self.results = results
        self.recorder = recorder  # what happened, for the database (None: url = "none")
        self.heartbeat_s = cluster.heartbeat_ms / 1000
        self.lease_ms = cluster.node_timeout_ms
        self.port = RedisPort(cluster.redis_url, timeout_s=max(0.2, min(1.0, cluster.heartbeat_ms / 1000)))
        self.nonce = new_nonce()
        self.membership = Membership(
            self.port, self.node_id, {"node": self.node_id}, cluster.node_timeout_ms, nonce=self.nonce
        )
        ttl_ms = int(max(config.quizzes.lobby_timeout_s, config.quizzes.linger_s) * 1000) + self.lease_ms
        self.leases = Leases(self.port, self.node_id, self.lease_ms, ttl_ms, nonce=self.nonce)
        self.store = SnapshotStore(self.port, ttl_ms, ReplicaWait(cluster.wait_replicas, cluster.wait_timeout_ms))
        self.relay = Relay(self.port, self.node_id, self.local_actor, on_rpc)
        self.redis_watch = RedisWatch(self.port)
        self.owned: dict[str, int] = {}
        self._adopting: set[str] = set()
        self._handing: set[str] = set()
        self.draining = False  # out of the ring, handing everything over
        self.refuse_new = False  # draining: no adoptions, no new quizzes here
        self._last_renew_ok = 0.0
        self._nursery: trio.Nursery | None = None

    # ------------------------------------------------------------------ lookups
    def local_actor(self, quiz_id: str) -> QuizActor | None:
        if quiz_id not in self.owned:
            return None
        actor = self.supervisor.actors.get(quiz_id)
        if actor is None or actor.handed_over:
            return None  # moving: the router answers server_busy, the relay says "moved"
        return actor

    async def is_registered(self, quiz_id: str) -> bool:
        return bool(await self.port.call(self.port.client.hexists, REGISTRY, quiz_id))

    # ------------------------------------------------------------------ the loop
    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Join the ring and tick until cancelled; then close the Redis connections (the
        node's drain, which still needs them, is over by the time the node cancels this)."""
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                await nursery.start(self.relay.run)
                nursery.start_soon(self.redis_watch.run)
                await self._join_ring()
                task_status.started()
                while True:
                    await self.tick()
                    await trio.sleep(self.heartbeat_s)
        finally:
            # Closing sockets does not block; a call a cancelled task abandoned in its
            # worker thread gets a connection error there, which nobody waits for.
            self.port.close()

    async def _join_ring(self) -> None:
        """Heartbeat until this node is in the ring (READY waits for it).

        A claim on this id by another process is waited out for two leases, since a
        crashed predecessor's claim lapses within one; a claim still alive after that
        is a live process with the same id, and this one refuses to join.
        """
        refused_since: float | None = None
        with trio.fail_after(30):
            while True:
                try:
                    await self.membership.heartbeat()
                    if self.node_id in self.membership.members:
                        return
                except redis.RedisError as exc:
                    log.warning("cannot reach Redis yet: %s", exc)
                except DuplicateNodeId as err:
                    now = trio.current_time()
                    if refused_since is None:
                        refused_since = now
                        log.warning(
                            "node id claimed by another process; waiting for the claim to lapse",
                            extra={"node": self.node_id},
                        )
                    if now - refused_since >= 2 * self.lease_ms / 1000:
                        log.error("refusing to join the cluster: %s", err, extra={"node": self.node_id})
                        raise
                await trio.sleep(self.heartbeat_s)

    async def tick(self) -> None:
        before = set(self.membership.members)
        try:
            if not self.draining:
                await self.membership.heartbeat()
        except redis.RedisError as exc:
            log.warning("heartbeat failed: %s", exc)
            self._check_cut_off()
            return
        except DuplicateNodeId as err:
            # Our claim lapsed (a pause longer than node_timeout_ms) and another process
            # took the id: it is the member now; we stop running quizzes under it.
            log.error(
                "this node's id was taken by another process; stopping its quizzes here: %s",
                err,
                extra={"node": self.node_id},
            )
            for quiz_id in list(self.owned):
                self._stop_lost(quiz_id)
            return
        for gone in before - set(self.membership.members):
            self._member_gone(gone)
        try:
            renewed = await self.leases.renew_all(dict(self.owned))
        except redis.RedisError as exc:
            log.warning("lease renewal failed: %s", exc)
            self._check_cut_off()
            return
        now = trio.current_time()
        self._last_renew_ok = now
        for quiz_id, ok in renewed.items():
            if not ok and quiz_id in self.owned:
                await self._lease_missing(quiz_id)
            elif ok:
                actor = self.supervisor.actors.get(quiz_id)
                if actor is not None and isinstance(actor.store, LeasedStore):
                    actor.store.last_ok = now  # the lease is fresh even if nothing was written
        metrics.QUIZZES_OWNED.set(len(self.owned))
        if not self.draining:
            await self._reconcile()

    def _check_cut_off(self) -> None:
        """Without Redis for longer than a lease, this node may no longer run anything."""
        if self.owned and trio.current_time() - self._last_renew_ok > self.lease_ms / 1000:
            for quiz_id in list(self.owned):
                log.error("cut off from Redis beyond the lease; stopping the quiz here", extra={"quizId": quiz_id})
                self._stop_lost(quiz_id)

    def _member_gone(self, node_id: str) -> None:
        log.warning("member gone", extra={"member": node_id})
        self.relay.gateway.owner_gone(node_id)
        for quiz_id in list(self.owned):
            actor = self.supervisor.actors.get(quiz_id)
            if actor is None or not isinstance(actor.delivery, ClusterDelivery):
                continue
            for pid, endpoint in actor.delivery.endpoints_on(node_id):
                try:
                    actor.post(ConnectionLost(pid, endpoint))
                except ProtocolError:
                    pass
                # If that node was only late, not dead, its players must not be left
                # connected to nothing: they resume (a dead node never reads this).
                self.relay.post(
                    node_id, CloseOne(endpoint.conn, E.CLOSE_RESTARTING, "connection lost by the quiz owner; resume")
                )

    async def _lease_missing(self, quiz_id: str) -> None:
        """Our lease is gone: Redis forgot it (restart) or another node took the quiz."""
        try:
            epoch = await self.leases.acquire(quiz_id)
        except redis.RedisError:
            return
        actor = self.supervisor.actors.get(quiz_id)
        if epoch is None or actor is None or not isinstance(actor.store, LeasedStore):
            log.error("lease lost; stopping the quiz here", extra={"quizId": quiz_id})
            self._stop_lost(quiz_id)
            return
        # Nobody else has it: resync Redis from the quiz we are running.
        log.warning("lease was gone; re-acquired and resyncing the snapshot", extra={"quizId": quiz_id, "epoch": epoch})
        self.owned[quiz_id] = epoch
        actor.store.rebind(self.leases.token(epoch))
        try:
            actor.post(Flush())
        except ProtocolError:
            pass

    def _stop_lost(self, quiz_id: str) -> None:
        actor = self.supervisor.actors.get(quiz_id)
        self.owned.pop(quiz_id, None)
        if actor is not None:
            try:
                actor.post(HandOver("quiz lost its lease here; resume"))
            except ProtocolError:
                pass

    async def _reconcile(self) -> None:
        try:
            registered = await self.store.registered()
        except redis.RedisError as exc:
            log.warning("cannot read the quiz registry: %s", exc)
            return
        assert self._nursery is not None
        for quiz_id in registered:
            owner = self.membership.owner(quiz_id)
            if owner == self.node_id:
                # Draining: keep running what is ours, adopt nothing new.
                if not self.refuse_new and quiz_id not in self.owned and quiz_id not in self._adopting:
                    self._adopting.add(quiz_id)
                    self._nursery.start_soon(self._adopt, quiz_id)
            elif quiz_id in self.owned and owner is not None and quiz_id not in self._handing:
                self._nursery.start_soon(self.hand_over, quiz_id, "quiz moves to another node; resume")

    async def _adopt(self, quiz_id: str) -> None:
        try:
            if quiz_id in self.owned or quiz_id in self.supervisor.actors:
                return  # it runs here, or an old copy (a hand-over) has not stopped yet
            epoch = await self.leases.acquire(quiz_id)
            if epoch is None:
                return  # someone holds it (another node, or this one under an older epoch)
            loaded = await self.store.load(quiz_id)
            if loaded is None:
                log.warning("registered quiz has no snapshot; forgetting it", extra={"quizId": quiz_id})
                await self.leases.release(quiz_id, epoch)
                await self.store.forget(quiz_id)
                return
            definition, meta, participants = loaded
            now = trio.current_time()
            game = QuizGame.from_snapshot(definition, self.settings, meta, participants, now, wall_offset_ms(now))
            await self._start_actor(game, epoch)
            metrics.TAKEOVERS.inc()
            log.info("quiz restored from snapshot", extra={"quizId": quiz_id, "epoch": epoch, "phase": game.phase})
        except redis.RedisError as exc:
            log.warning("adopting a quiz failed: %s", exc, extra={"quizId": quiz_id})
        except AlreadyRunning:
            pass  # logged by _start_actor; adopted at a later tick, once the old copy stopped
        finally:
            self._adopting.discard(quiz_id)

    async def _start_actor(self, game: QuizGame, epoch: int) -> QuizActor:
        """Run ``game`` under the lease of ``epoch``; a copy still running here refuses it
        (the lease is released again and the caller sees ``AlreadyRunning``)."""
        quiz_id = game.quiz_id
        store = LeasedStore(self.store, self.leases.token(epoch), self.lease_ms / 1000)
        actor = QuizActor(
            game, ClusterDelivery(quiz_id, self.relay.transport), self.results, store=store, recorder=self.recorder
        )
        if quiz_id in self.supervisor.actors:
            log.error("a copy of the quiz still runs here; not starting another", extra={"quizId": quiz_id})
            await self.leases.release(quiz_id, epoch)
            raise AlreadyRunning(quiz_id)
        self.owned[quiz_id] = epoch
        try:
            await self.supervisor.spawn(actor)
        except AlreadyRunning:
            self.owned.pop(quiz_id, None)
            await self.leases.release(quiz_id, epoch)
            raise
        return actor

    def _actor_exited(self, actor: QuizActor) -> None:
        epoch = self.owned.get(actor.quiz_id)
        if epoch is None or not self._is_current(actor, epoch):
            return  # an older copy (handed over or lost): the quiz's entry is not its own
        del self.owned[actor.quiz_id]
        if actor.handed_over or self._nursery is None or self._nursery.cancel_scope.cancel_called:
            return  # handed over, or the node is shutting down: nothing to retire now
        # Ended and lingered (or given up): nothing to take over any more.
        self._nursery.start_soon(self._retire, actor.quiz_id, epoch)

    def _is_current(self, actor: QuizActor, epoch: int) -> bool:
        """Whether ``actor`` is the copy that runs under the lease of ``epoch``."""
        return isinstance(actor.store, LeasedStore) and actor.store.token == self.leases.token(epoch)

    async def _retire(self, quiz_id: str, epoch: int) -> None:
        try:
            await self.store.forget(quiz_id)
            await self.leases.release(quiz_id, epoch)
        except redis.RedisError as exc:
            log.warning("could not retire quiz: %s", exc, extra={"quizId": quiz_id})

    async def hand_over(self, quiz_id: str, reason: str) -> None:
        """Durable, players to the next owner (1012), lease released."""
        epoch = self.owned.get(quiz_id)
        actor = self.supervisor.actors.get(quiz_id)
        if epoch is None or actor is None:
            return
        self._handing.add(quiz_id)
        try:
            request = HandOver(reason)
            try:
                actor.post(request)
                with trio.move_on_after(10):
                    await request.reply.wait()
            except ProtocolError:
                pass
            self.owned.pop(quiz_id, None)
            await self.leases.release(quiz_id, epoch)
            metrics.HANDOVERS.inc()
            log.info("quiz handed over", extra={"quizId": quiz_id, "reason": reason})
        except redis.RedisError as exc:
            log.warning("hand-over incomplete (the lease will expire): %s", exc, extra={"quizId": quiz_id})
        finally:
            self._handing.discard(quiz_id)

    async def leave(self) -> None:
        """Drain: out of the ring, every quiz handed over, local players told to resume."""
        self.draining = True
        try:
            await self.membership.leave()
        except redis.RedisError as exc:
            log.warning("could not leave the ring cleanly: %s", exc)
        async with trio.open_nursery() as nursery:
            for quiz_id in list(self.owned):
                nursery.start_soon(self.hand_over, quiz_id, "node draining; resume")
        self.relay.gateway.close_all(E.CLOSE_RESTARTING, "node draining; resume")

    # ------------------------------------------------------------------ creating quizzes
    async def create(self, definition: QuizDefinition, quiz_id: str, auto_start: AutoStart | None) -> tuple[str, str]:
        owner = self.membership.owner(quiz_id) or self.node_id
        if owner != self.node_id:
            value = await self.relay.gateway.rpc(
                owner, RpcOp.CREATE, quiz_id, definition_id=definition.id, auto_start=auto_start
            )
            return value["quizId"], value["hostToken"]
        if self.refuse_new:
            raise ServiceError(503, "server_busy", "this node is draining; retry")
        if quiz_id in self.owned or quiz_id in self.supervisor.actors or await self.is_registered(quiz_id):
            raise ServiceError(409, "quiz_exists", f"quiz {quiz_id!r} already exists")
        epoch = await self.leases.acquire(quiz_id)
        if epoch is None or quiz_id in self.owned:
            raise ServiceError(409, "quiz_exists", f"quiz {quiz_id!r} already exists")
        now = trio.current_time()
        game = QuizGame(
            quiz_id,
            definition,
            self.settings,
            now,
            wall_offset_ms=wall_offset_ms(now),
            auto_start=auto_start,
            host_token=secrets.token_urlsafe(18),
        )
        await self.store.create(game, self.leases.token(epoch), now)
        await self._start_actor(game, epoch)
        return quiz_id, game.host_token

    async def holders(self, quiz_ids: list[str]) -> dict[str, str]:
        def read() -> list[Any]:
            pipe = self.port.client.pipeline(transaction=False)
            for quiz_id in quiz_ids:
                pipe.get(lease_key(quiz_id))
            return pipe.execute()

        values = await self.port.call(read) if quiz_ids else []
        return {q: parse_lease(v)[0] for q, v in zip(quiz_ids, values, strict=True) if v}
