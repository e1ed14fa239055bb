"""redis-py from Trio: every call in a worker thread, with a limiter and a timeout.

redis-py has no Trio client, and a blocking call on the event loop would freeze every
quiz of the node.  Calls run through ``trio.to_thread.run_sync`` under a
``CapacityLimiter``; the client has socket timeouts, so a Redis that stopped
answering costs a bounded wait and an error, never a hang.

Three lanes, each with its own limiter, so one kind of work can never starve another:

* ``control`` (heartbeats, lease acquire/renew/release) also has its own client and
  connection pool: a flood of lookups from players (joins for unknown quiz ids) must
  never delay a lease renewal into a false failover;
* ``blocking`` (the relay's stream reads, which wait up to ``timeout_s`` on purpose);
* everything else (lookups, snapshot writes, relay writes).

With a ``redis+sentinel://`` URL each client is ``Sentinel(...).master_for(service)``:
redis-py's ``SentinelConnectionPool`` asks the Sentinels for the primary whenever it
opens a connection, and a connection that finds the old primary dead or demoted
(``READONLY``, ``UNBLOCKED``) is dropped with a ``ConnectionError``.  So a promotion
looks to every caller like a Redis blip: the call fails, is retried, and the retry
reaches the new primary.  Each lane's client has its own pool, so each follows on its
own next connection.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

import redis
import redis.sentinel
import trio

from quizd.config.redis_address import SentinelAddress, is_sentinel_url, parse_sentinel_url
from quizd.ops import metrics

log = logging.getLogger("quizd.cluster")
T = TypeVar("T")

# Threads (and so pooled connections) each lane may use at once.
GENERAL_THREADS = 8
CONTROL_THREADS = 2
BLOCKING_THREADS = 4


class RedisPort:
    def __init__(self, url: str, *, timeout_s: float = 1.0) -> None:
        self.sentinel_address: SentinelAddress | None = None
        self.sentinel: redis.sentinel.Sentinel | None = None
        if is_sentinel_url(url):
            self.sentinel_address = parse_sentinel_url(url)
            self.sentinel = self._sentinel(self.sentinel_address, timeout_s)
        self.client = self._client(url, timeout_s)
        self.control_client = self._client(url, timeout_s)
        self.timeout_s = timeout_s
        self._limiter = trio.CapacityLimiter(GENERAL_THREADS)
        self._control = trio.CapacityLimiter(CONTROL_THREADS)
        self._blocking = trio.CapacityLimiter(BLOCKING_THREADS)

    @staticmethod
    def _sentinel(address: SentinelAddress, timeout_s: float) -> redis.sentinel.Sentinel:
        """The Sentinels (no password: the URL's userinfo is the data nodes')."""
        return redis.sentinel.Sentinel(
            list(address.sentinels),
            sentinel_kwargs={"socket_timeout": timeout_s, "socket_connect_timeout": timeout_s},
        )

    def _client(self, url: str, timeout_s: float) -> redis.Redis:
        options: dict[str, Any] = {
            "socket_timeout": timeout_s + 1.0,  # blocking reads wait up to timeout_s on purpose
            "socket_connect_timeout": timeout_s,
            "retry_on_timeout": False,
            "health_check_interval": 0,
        }
        if self.sentinel is not None and self.sentinel_address is not None:
            address = self.sentinel_address
            # A pool of its own per client (per lane): each re-discovers the primary.
            client: redis.Redis = self.sentinel.master_for(
                address.service, db=address.db, username=address.username, password=address.password, **options
            )
            return client
        return redis.Redis.from_url(url, **options)

    def primary_address(self) -> tuple[str, int] | None:
        """Where the Sentinels say the primary is now (blocking; run it through ``call``).

        None without Sentinel.  Raises ``MasterNotFoundError`` (a ``RedisError``) while
        no Sentinel knows a live primary.
        """
        if self.sentinel is None or self.sentinel_address is None:
            return None
        host, port = self.sentinel.discover_master(self.sentinel_address.service)
        return str(host), int(port)

    async def call(
        self, fn: Callable[..., T], *args: Any, blocking: bool = False, control: bool = False, **kwargs: Any
    ) -> T:
        """Run ``fn`` in a worker thread of its lane.

        A ``control`` call of a registered script runs on the control client's pool
        (``client=`` is passed unless the caller gave one).
        """
        if control:
            limiter = self._control
            if isinstance(fn, redis.commands.core.Script) and "client" not in kwargs:
                kwargs["client"] = self.control_client
        else:
            limiter = self._blocking if blocking else self._limiter
        try:
            return await trio.to_thread.run_sync(partial(fn, *args, **kwargs), limiter=limiter, abandon_on_cancel=True)
        except redis.RedisError:
            metrics.REDIS_ERRORS.inc()
            raise

    def script(self, source: str) -> Any:
        return self.client.register_script(source)

    def close(self) -> None:
        self.client.close()
        self.control_client.close()
        if self.sentinel is not None:
            for sentinel in self.sentinel.sentinels:
                sentinel.close()
