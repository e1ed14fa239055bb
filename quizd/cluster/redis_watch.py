"""What the node sees of Redis replication: the primary's address and replica lag.

Every few heartbeats, on the control lane, the node asks the Sentinels which server is
the primary (only with a ``redis+sentinel://`` URL) and reads ``INFO replication`` from
the primary.  A different primary than last time is a failover: it is counted
(``quizd_redis_primary_changes``) and logged, and the operator's alert fires on it.
The replicas' offsets give the replication lag in bytes, the number a ``WAIT`` timeout
or a promotion's loss grows with.

Nothing here steers the node: redis-py follows a promotion on its own (redis_port.py)
and leases are re-asserted by the manager's renewal.  This module only makes the
failover and the lag visible.
"""

from __future__ import annotations

import logging
from typing import Any

import attrs
import redis
import trio

from quizd.cluster.redis_port import RedisPort
from quizd.ops import metrics

log = logging.getLogger("quizd.cluster")

WATCH_INTERVAL_S = 2.0


@attrs.frozen
class Replication:
    """The part of ``INFO replication`` the node exports."""

    replicas: int
    lag_bytes: int

    @classmethod
    def from_info(cls, info: dict[str, Any]) -> Replication:
        """Connected replicas and the furthest one's distance from ``master_repl_offset``."""
        offset = int(info.get("master_repl_offset", 0))
        offsets = [
            int(value["offset"])
            for key, value in info.items()
            if key.startswith("slave") and isinstance(value, dict) and "offset" in value
        ]
        lag = max((offset - o for o in offsets), default=0)
        return cls(int(info.get("connected_slaves", len(offsets))), max(0, lag))


class RedisWatch:
    """Polls the primary's address and ``INFO replication``; exports what it saw."""

    def __init__(self, port: RedisPort, interval_s: float = WATCH_INTERVAL_S) -> None:
        self.port = port
        self.interval_s = interval_s
        self.primary: tuple[str, int] | None = None

    async def run(self) -> None:
        while True:
            try:
                await self.check()
            except redis.RedisError as exc:
                log.info("could not read Redis replication state: %s", exc)
            await trio.sleep(self.interval_s)

    async def check(self) -> None:
        primary = await self.port.call(self.port.primary_address, control=True)
        if primary is not None:
            if self.primary is not None and primary != self.primary:
                metrics.REDIS_PRIMARY_CHANGES.inc()
                log.warning(
                    "Redis primary changed (Sentinel failover)",
                    extra={"from": f"{self.primary[0]}:{self.primary[1]}", "to": f"{primary[0]}:{primary[1]}"},
                )
            self.primary = primary
        info: dict[str, Any] = await self.port.call(self.port.control_client.info, "replication", control=True)
        replication = Replication.from_info(info)
        metrics.REDIS_REPLICAS.set(replication.replicas)
        metrics.REDIS_REPLICATION_LAG_BYTES.set(replication.lag_bytes)
