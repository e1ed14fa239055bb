"""Quiz snapshots in Redis: fenced, incremental writes and the reads a takeover needs.

``quizd:snap:<quiz>`` is a hash: ``def`` (the definition the quiz started with),
``meta`` (the quiz-level state) and ``p:<participant>`` (one record each).  A commit
writes the meta plus only the participants that changed, in one ``FENCED_WRITE``
script call: Redis refuses it unless the writer still holds the quiz's lease.

With ``wait_replicas`` > 0 the same round trip (a pipeline) ends with ``WAIT
wait_replicas wait_timeout_ms``, so a commit returns only once that many replicas have
it, or the timeout passed.  After a timeout the commit still counts (the acks go out):
a lone primary must not stop every quiz; the timeout is counted and logged instead
(docs/cluster.md, "Replica wait").
"""

from __future__ import annotations

import logging
import time
from typing import Any, cast

import attrs
import orjson
import trio

from quizd.cluster import scripts
from quizd.cluster.coordination import REGISTRY, lease_key, snapshot_key
from quizd.cluster.redis_port import RedisPort
from quizd.game.definitions import QuizDefinition
from quizd.game.quiz import QuizGame
from quizd.game.snapshot import definition_from_record, definition_record
from quizd.ops import metrics

log = logging.getLogger("quizd.cluster")


class Fenced(Exception):
    """Redis refused a write: this node no longer holds the quiz's lease."""


@attrs.frozen
class ReplicaWait:
    """``WAIT replicas timeout_ms`` after each fenced write; ``replicas == 0``: none."""

    replicas: int = 0
    timeout_ms: int = 100


# A WAIT timeout is logged at most this often (the metric counts each one).
WAIT_LOG_INTERVAL_S = 10.0


class SnapshotStore:
    def __init__(self, port: RedisPort, ttl_ms: int, wait: ReplicaWait = ReplicaWait()) -> None:
        self.port = port
        self.ttl_ms = ttl_ms
        self.wait = wait
        self._write = port.script(scripts.FENCED_WRITE)
        self._wait_logged_at = -WAIT_LOG_INTERVAL_S

    async def create(self, game: QuizGame, token: str, now: float) -> None:
        """The first write of a new quiz: definition, meta and every participant."""
        meta, participants = game.to_snapshot(now)
        definition = orjson.dumps(definition_record(game.definition))
        if not await self.port.call(lambda: self._fenced(None, game, token, meta, participants, [], definition)):
            raise Fenced(game.quiz_id)

    async def commit(self, game: QuizGame, token: str, now: float, events: int = 1) -> None:
        """Make every change since the last commit durable (one round trip)."""
        meta, changed, removed = game.take_changes(now)
        start = trio.current_time()
        try:
            ok = await self.port.call(lambda: self._fenced(None, game, token, meta, changed, removed))
        except Exception:
            metrics.SNAPSHOT_WRITES.labels("error").inc()
            # Not durable: mark everything changed again so the next commit carries it.
            game.dirty.update(pid for pid in changed if pid in game.participants)
            game.removed.update(removed)
            raise
        metrics.SNAPSHOT_SECONDS.observe(trio.current_time() - start)
        if not ok:
            metrics.SNAPSHOT_WRITES.labels("fenced").inc()
            raise Fenced(game.quiz_id)
        metrics.SNAPSHOT_WRITES.labels("ok").inc()
        metrics.GROUP_COMMIT_SIZE.observe(events)

    def _fenced(
        self,
        client: Any,
        game: QuizGame,
        token: str,
        meta: dict[str, Any],
        changed: dict[str, dict[str, Any]],
        removed: list[str],
        definition: bytes = b"",
    ) -> Any:
        args: list[Any] = [
            token,
            self.ttl_ms,
            game.quiz_id,
            game.definition.id,
            orjson.dumps(meta),
            len(removed),
            definition,
        ]
        args.extend(removed)
        for pid, record in changed.items():
            args.append(pid)
            args.append(orjson.dumps(record))
        keys = [lease_key(game.quiz_id), snapshot_key(game.quiz_id), REGISTRY]
        if not self.wait.replicas:
            if client is None:
                return self._write(keys=keys, args=args)
            return self._write(keys=keys, args=args, client=client)
        pipe = (client or self.port.client).pipeline(transaction=False)
        self._write(keys=keys, args=args, client=pipe)
        pipe.execute_command("WAIT", self.wait.replicas, self.wait.timeout_ms)
        written, replicas = pipe.execute()
        self._count_wait(int(replicas), game.quiz_id)
        return written

    def _count_wait(self, replicas: int, quiz_id: str) -> None:
        """Metrics (and a rate-limited log) of one WAIT; runs in the worker thread."""
        metrics.REDIS_WAIT_REPLICAS.observe(replicas)
        if replicas >= self.wait.replicas:
            return
        metrics.REDIS_WAIT_TIMEOUTS.inc()
        now = time.monotonic()
        if now - self._wait_logged_at >= WAIT_LOG_INTERVAL_S:
            self._wait_logged_at = now
            log.warning(
                "a group commit reached %d of %d replicas within %d ms; its acks went out anyway",
                replicas,
                self.wait.replicas,
                self.wait.timeout_ms,
                extra={"quizId": quiz_id},
            )

    async def load(self, quiz_id: str) -> tuple[QuizDefinition, dict[str, Any], dict[str, dict[str, Any]]] | None:
        reply = await self.port.call(self.port.client.hgetall, snapshot_key(quiz_id))
        # Safe: quizd's Redis clients never set decode_responses, so replies are bytes
        # (redis-py's types say bytes | str for every client).
        raw = cast(dict[bytes, bytes], reply)
        if not raw or b"def" not in raw or b"meta" not in raw:
            return None
        definition = definition_from_record(orjson.loads(raw[b"def"]))
        meta = orjson.loads(raw[b"meta"])
        if b"alive" in raw:  # the owner's last sign of life, if later than its last write
            meta["savedAt"] = max(meta["savedAt"], int(raw[b"alive"]))
        participants = {key[2:].decode(): orjson.loads(value) for key, value in raw.items() if key.startswith(b"p:")}
        return definition, meta, participants

    async def meta(self, quiz_ids: list[str]) -> dict[str, dict[str, Any]]:
        """The meta records of several quizzes in one round trip (for listings)."""

        def read() -> list[Any]:
            pipe = self.port.client.pipeline(transaction=False)
            for quiz_id in quiz_ids:
                pipe.hget(snapshot_key(quiz_id), "meta")
            return pipe.execute()

        values = await self.port.call(read) if quiz_ids else []
        return {q: orjson.loads(v) for q, v in zip(quiz_ids, values, strict=True) if v is not None}

    async def forget(self, quiz_id: str) -> None:
        """The quiz is over for good: drop it from the registry (the snapshot expires)."""
        await self.port.call(self.port.client.hdel, REGISTRY, quiz_id)

    async def registered(self) -> dict[str, str]:
        reply = await self.port.call(self.port.client.hgetall, REGISTRY)
        # Safe: quizd's Redis clients never set decode_responses, so replies are bytes
        # (redis-py's types say bytes | str for every client).
        raw = cast(dict[bytes, bytes], reply)
        return {k.decode(): v.decode() for k, v in raw.items()}
