"""Membership, the hash ring and quiz leases.

Each node heartbeats into a sorted set scored by Redis' own clock (so node clocks do
not matter) and reads back the members seen within ``node_timeout_ms``.  The ring
(``uhashring``, ketama-compatible consistent hashing) over those ids says which node
*should* run each quiz; it is only a hint, since two nodes may see different members
for a moment.  The lease is the authority: a quiz actor runs only on the node holding
``quizd:lease:<quiz>``, and every write is fenced by the lease's token.

Each process draws a nonce at start.  Its heartbeat claims ``quizd:node:<id>`` for
that nonce, so a second process started with the same ``[node] id`` while the first
is alive is refused (``DuplicateNodeId``) and never enters the ring; and lease tokens
carry the nonce, so one process can never renew or release another's lease.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from typing import Any, cast

import orjson
from uhashring import HashRing

from quizd.cluster import scripts
from quizd.cluster.redis_port import RedisPort
from quizd.ops import metrics

log = logging.getLogger("quizd.cluster")

MEMBERS = "quizd:members"
NODES = "quizd:nodes"
REGISTRY = "quizd:quizzes"


def claim_key(node_id: str) -> str:
    """Which process (its nonce) heartbeats under ``node_id``."""
    return f"quizd:node:{node_id}"


def new_nonce() -> str:
    """A process's identity beside its configured id (for leases and the id claim)."""
    return secrets.token_hex(6)


class DuplicateNodeId(Exception):
    """Another live process heartbeats under this node's ``[node] id``."""

    def __init__(self, node_id: str) -> None:
        super().__init__(
            f"another live process already runs as node id {node_id!r}: every node of a cluster needs its own [node] id"
        )
        self.node_id = node_id


def lease_key(quiz_id: str) -> str:
    return f"quizd:lease:{quiz_id}"


def epoch_key(quiz_id: str) -> str:
    return f"quizd:epoch:{quiz_id}"


def snapshot_key(quiz_id: str) -> str:
    return f"quizd:snap:{quiz_id}"


def ring_hash(members: list[str]) -> int:
    """48 bits of a hash of the member set (fits a float exactly, for Prometheus)."""
    digest = hashlib.sha256("\n".join(sorted(members)).encode()).digest()
    return int.from_bytes(digest[:6], "big")


class Membership:
    """This node's view of the live members and the ring built from it."""

    def __init__(
        self, port: RedisPort, node_id: str, info: dict[str, Any], node_timeout_ms: int, *, nonce: str | None = None
    ) -> None:
        self.port = port
        self.node_id = node_id
        self.nonce = nonce or new_nonce()
        self.info = orjson.dumps(info)
        self.node_timeout_ms = node_timeout_ms
        self.members: list[str] = []
        self.ring: HashRing | None = None
        self._heartbeat = port.script(scripts.HEARTBEAT)
        self._leave = port.script(scripts.LEAVE)

    def set_info(self, info: dict[str, Any]) -> None:
        self.info = orjson.dumps(info)

    async def heartbeat(self) -> bool:
        """Register this node and refresh the view; True when the members changed.

        Raises ``DuplicateNodeId`` when another live process holds this node's id.
        """
        accepted, raw = await self.port.call(
            self._heartbeat,
            keys=[MEMBERS, NODES, claim_key(self.node_id)],
            args=[self.node_id, self.info, self.node_timeout_ms, self.nonce],
            control=True,
        )
        if not accepted:
            metrics.DUPLICATE_NODE_ID.inc()
            raise DuplicateNodeId(self.node_id)
        members = sorted(m.decode() for m in raw)
        if members == self.members:
            return False
        log.info("cluster members changed", extra={"members": members, "before": self.members})
        self.members = members
        self.ring = HashRing(nodes=members) if members else None
        metrics.CLUSTER_MEMBERS.set(len(members))
        metrics.RING_HASH.set(ring_hash(members))
        return True

    async def leave(self) -> None:
        await self.port.call(
            self._leave, keys=[MEMBERS, NODES, claim_key(self.node_id)], args=[self.node_id, self.nonce], control=True
        )

    def owner(self, quiz_id: str) -> str | None:
        """The ring's choice for ``quiz_id`` among the members this node sees."""
        if self.ring is None:
            return None
        owner: str | None = self.ring.get_node(quiz_id)  # uhashring ships no types
        return owner

    def is_live(self, node_id: str) -> bool:
        return node_id in self.members


class Leases:
    """Acquire, renew and release quiz leases; tokens are ``"<node>|<nonce>|<epoch>"``."""

    def __init__(
        self,
        port: RedisPort,
        node_id: str,
        lease_ms: int,
        snapshot_ttl_ms: int = 3_600_000,
        *,
        nonce: str | None = None,
    ) -> None:
        self.port = port
        self.node_id = node_id
        self.holder_name = f"{node_id}|{nonce or new_nonce()}"
        self.lease_ms = lease_ms
        self.snapshot_ttl_ms = snapshot_ttl_ms
        self._acquire = port.script(scripts.ACQUIRE)
        self._renew = port.script(scripts.RENEW)
        self._release = port.script(scripts.RELEASE)

    def token(self, epoch: int) -> str:
        return f"{self.holder_name}|{epoch}"

    async def acquire(self, quiz_id: str) -> int | None:
        """A new epoch if the quiz had no lease and this process holds it now, else None
        (someone holds it: another node, another process, or this one under an older epoch)."""
        epoch = await self.port.call(
            self._acquire,
            keys=[lease_key(quiz_id), epoch_key(quiz_id)],
            args=[self.holder_name, self.lease_ms],
            control=True,
        )
        if not epoch:
            metrics.LEASE_CONFLICTS.inc()
            return None
        return int(epoch)

    async def renew_all(self, held: dict[str, int]) -> dict[str, bool]:
        """Renew every held lease in one pipelined round trip; False where it was lost."""
        if not held:
            return {}
        items = list(held.items())
        now_ms = int(time.time() * 1000)

        def renew() -> list[Any]:
            pipe = self.port.control_client.pipeline(transaction=False)
            for quiz_id, epoch in items:
                self._renew(
                    keys=[lease_key(quiz_id), snapshot_key(quiz_id)],
                    args=[self.token(epoch), self.lease_ms, now_ms, self.snapshot_ttl_ms],
                    client=pipe,
                )
            return pipe.execute()

        results = await self.port.call(renew, control=True)
        return {quiz_id: bool(ok) for (quiz_id, _), ok in zip(items, results, strict=True)}

    async def release(self, quiz_id: str, epoch: int) -> bool:
        return bool(
            await self.port.call(self._release, keys=[lease_key(quiz_id)], args=[self.token(epoch)], control=True)
        )

    async def holder(self, quiz_id: str) -> tuple[str, int] | None:
        raw = await self.port.call(self.port.client.get, lease_key(quiz_id))
        if raw is None:
            return None
        # Safe: quizd's Redis clients never set decode_responses, so replies are bytes
        # (redis-py's types say bytes | str for every client).
        return parse_lease(cast(bytes, raw))


def parse_lease(raw: bytes) -> tuple[str, int]:
    """The node id and the epoch of a lease value ``"<node>|<nonce>|<epoch>"``."""
    node, _, rest = raw.decode().partition("|")
    return node, int(rest.rpartition("|")[2])
