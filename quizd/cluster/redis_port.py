"""redis-py from Trio: every call in a worker thread, with a limiter and a timeout.

redis-py has no Trio client, and a blocking call on the event loop would freeze every
quiz of the node.  Calls run through ``trio.to_thread.run_sync`` under a
``CapacityLimiter``; the client has socket timeouts, so a Redis that stopped
answering costs a bounded wait and an error, never a hang.  Blocking stream reads use
their own limiter so they can never starve writes.
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


class RedisPort:
    def __init__(self, url: str, *, timeout_s: float = 1.0) -> None:
        self.client = redis.Redis.from_url(
            url,
            socket_timeout=timeout_s + 1.0,  # blocking reads wait up to timeout_s on purpose
            socket_connect_timeout=timeout_s,
            retry_on_timeout=False,
            health_check_interval=0,
        )
        self.timeout_s = timeout_s
        self._limiter = trio.CapacityLimiter(8)
        self._blocking = trio.CapacityLimiter(4)

    async def call(self, fn: Callable[..., T], *args: Any, blocking: bool = False, **kwargs: Any) -> T:
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
