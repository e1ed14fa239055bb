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
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

import redis
import trio

from quizd.ops import metrics

log = logging.getLogger("quizd.cluster")
T = TypeVar("T")

# Threads (and so pooled connections) each lane may use at once.
GENERAL_THREADS = 8
CONTROL_THREADS = 2
BLOCKING_THREADS = 4


class RedisPort:
    def __init__(self, url: str, *, timeout_s: float = 1.0) -> None:
        self.client = self._client(url, timeout_s)
        self.control_client = self._client(url, timeout_s)
        self.timeout_s = timeout_s
        self._limiter = trio.CapacityLimiter(GENERAL_THREADS)
        self._control = trio.CapacityLimiter(CONTROL_THREADS)
        self._blocking = trio.CapacityLimiter(BLOCKING_THREADS)

    @staticmethod
    def _client(url: str, timeout_s: float) -> redis.Redis:
        return redis.Redis.from_url(
            url,
            socket_timeout=timeout_s + 1.0,  # blocking reads wait up to timeout_s on purpose
            socket_connect_timeout=timeout_s,
            retry_on_timeout=False,
            health_check_interval=0,
        )

    async def call(self, fn: Callable[..., T], *args: Any, blocking: bool = False, control: bool = False,
                   **kwargs: Any) -> T:
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
