"""The sender: POSTs due outbox rows, signed, and settles each attempt in the database.

One task per node (:meth:`WebhookSender.run`).  Each round it claims due rows
(:func:`quizd.webhooks.outbox.claim_due`, a lease of :data:`LEASE_S`), sends them
concurrently with one ``httpx.AsyncClient`` (its AnyIO backend runs on Trio), and
records each result: a 2xx answer within :data:`TIMEOUT_S` is a delivery; anything else
(another status, a refused connection, a timeout) is retried on the
:class:`~quizd.webhooks.schedule.RetrySchedule`, until 24 h after the event, when it is
given up: logged and counted.  Each attempt is signed anew with its own
``webhook-timestamp``.  When nothing was due it sleeps :data:`POLL_INTERVAL_S`, so a new
event goes out within about that long of its commit, on whichever node claims it first.

Every database call runs in a worker thread (:class:`quizd.store.engine.Database`).  A
database that is away costs a logged warning and a retry after the poll interval: the
rows wait in the database, not in memory.  An attempt whose result could not be
recorded keeps its claim until the lease ends and is then sent again: delivery is at
least once, and a receiver drops repeats by ``webhook-id``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import TypeVar
from urllib.parse import urlsplit

import httpx
import trio

from quizd.config.model import WebhookEndpoint
from quizd.ops import metrics
from quizd.store.engine import Database
from quizd.store.queries import read
from quizd.webhooks import outbox
from quizd.webhooks.outbox import OutboxRow, Outcome, Settlement
from quizd.webhooks.schedule import RetrySchedule
from quizd.webhooks.signing import secret_key, signed_headers

log = logging.getLogger("quizd.webhooks")

TIMEOUT_S = 10.0  # a 2xx within this is a delivery (protocol section 5)
POLL_INTERVAL_S = 1.0  # how often a node looks for due rows when it found none
LEASE_S = 60.0  # a claim outlives one attempt (TIMEOUT_S) with room to settle it
CLAIM_BATCH = 50  # rows claimed (and sent concurrently) per round
METRICS_INTERVAL_S = 15.0  # how often the pending and oldest-age gauges are refreshed

T = TypeVar("T")
WallClock = Callable[[], float]


def endpoint_origin(url: str) -> str:
    """``scheme://host[:port]`` of an endpoint, for logs: a path or query may hold a token
    (many receivers put one there), and the log filter redacts names, not text."""
    parts = urlsplit(url)
    host = f"[{parts.hostname}]" if parts.hostname and ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")


class WebhookSender:
    """Claims, signs, POSTs and settles the outbox rows of the configured endpoints."""

    def __init__(
        self,
        database: Database,
        endpoints: Sequence[WebhookEndpoint],
        node_id: str,
        *,
        schedule: RetrySchedule | None = None,
        wall_clock: WallClock = time.time,
    ) -> None:
        self._database = database
        self._keys = {e.url: secret_key(e.secret) for e in endpoints}
        self._node_id = node_id
        self._schedule = schedule if schedule is not None else RetrySchedule()
        self._now = wall_clock
        self._database_failing = False
        self._metrics_due = 0.0

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Send until cancelled; first takes back the claims this node held before a restart."""
        task_status.started()
        released = await self._db(outbox.release_claims, self._node_id)
        if released:
            log.info("webhooks: took back %d deliveries claimed before a restart", released)
        timeout = httpx.Timeout(TIMEOUT_S)
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
            while True:
                await self._refresh_metrics()
                now = self._now_ms()
                expired_before = now - int(self._schedule.give_up_after_s * 1000)
                rows = await self._db(
                    outbox.claim_due,
                    self._node_id,
                    tuple(self._keys),
                    expired_before,
                    now,
                    int(LEASE_S * 1000),
                    CLAIM_BATCH,
                )
                if rows:
                    async with trio.open_nursery() as nursery:
                        for row in rows:
                            nursery.start_soon(self._deliver, client, row)
                else:
                    await trio.sleep(POLL_INTERVAL_S)

    def _now_ms(self) -> int:
        return int(self._now() * 1000)

    async def _db(self, fn: Callable[..., T], *args: object) -> T | None:
        """``fn(connection, *args)`` in a worker thread; None (logged once) while the database is away."""

        def call() -> T:
            return read(self._database.engine, fn, *args)

        try:
            result = await self._database.run(call)
        except Exception as exc:  # a database outage must not end the sender
            if not self._database_failing:
                log.warning("webhooks: the database is unavailable (%s); deliveries wait", exc.__class__.__name__)
            self._database_failing = True
            return None
        if self._database_failing:
            log.info("webhooks: the database is back")
        self._database_failing = False
        return result

    async def _deliver(self, client: httpx.AsyncClient, row: OutboxRow) -> None:
        key = self._keys.get(row.url)
        now = self._now()
        if key is None:
            settlement = Settlement(Outcome.GAVE_UP, int(now * 1000), error="endpoint not configured on this node")
        else:
            error = await self._post(client, row, key, int(now))
            settlement = self._settlement(row, error, now)
        metrics.count_webhook(settlement.outcome.value)
        if settlement.outcome is Outcome.GAVE_UP:
            log.error(
                "webhooks: gave up %s %s to %s after %d attempts: %s",
                row.event_type,
                row.id,
                endpoint_origin(row.url),
                row.attempts + 1,
                settlement.error,
            )
        elif settlement.outcome is Outcome.FAILED:
            log.info(
                "webhooks: %s %s to %s failed (%s); attempt %d, next in %.0f s",
                row.event_type,
                row.id,
                endpoint_origin(row.url),
                settlement.error,
                row.attempts + 1,
                ((settlement.next_attempt_at or 0) - settlement.at) / 1000,
            )
        await self._db(outbox.settle, row, self._node_id, settlement)

    async def _post(self, client: httpx.AsyncClient, row: OutboxRow, key: bytes, timestamp: int) -> str | None:
        """One signed POST; None when delivered, else what went wrong."""
        headers = signed_headers(key, row.id, timestamp, row.payload)
        with trio.move_on_after(TIMEOUT_S):
            try:
                response = await client.post(row.url, content=row.payload, headers=headers)
            # httpx.HTTPError and kin: a failed attempt, never the end of the sender (and the node).
            except Exception as exc:
                return exc.__class__.__name__
            return None if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"
        return f"no answer within {TIMEOUT_S:g} s"

    def _settlement(self, row: OutboxRow, error: str | None, now: float) -> Settlement:
        at = int(now * 1000)
        if error is None:
            return Settlement(Outcome.DELIVERED, at)
        retry_at = self._schedule.next_attempt(row.created_at / 1000, row.attempts + 1, now)
        if retry_at is None:
            return Settlement(Outcome.GAVE_UP, at, error=error)
        return Settlement(Outcome.FAILED, at, next_attempt_at=int(retry_at * 1000), error=error)

    async def _refresh_metrics(self) -> None:
        if trio.current_time() < self._metrics_due:
            return
        self._metrics_due = trio.current_time() + METRICS_INTERVAL_S
        found = await self._db(outbox.backlog)
        if found is not None:
            metrics.WEBHOOK_PENDING.set(found.pending)
            oldest = found.oldest_created_at
            metrics.WEBHOOK_OLDEST_PENDING_AGE.set(max(0.0, self._now() - oldest / 1000) if oldest is not None else 0)
