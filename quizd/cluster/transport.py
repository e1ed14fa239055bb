"""The relay's transport: typed messages between nodes over Redis Streams.

Each node reads two streams of its own: ``quizd:in:<node>`` (``ToOwner`` messages:
joins, commands, dropped connections, hand-off reports and RPCs for quizzes it owns)
and ``quizd:out:<node>`` (``ToGateway`` messages: what its local connections must
receive).  Streams keep their entries, and the reader keeps the id of the last entry
it handled, so a Redis reconnect resumes exactly where it stopped: nothing is lost and
nothing repeats.  After a failed read the positions are checked against the stream's
last entry (``_recheck_positions``): behind Sentinel the primary may have changed, and
the promoted replica can lack entries this node already read (acknowledged by the old
primary, never replicated).  A position beyond the stream's end is brought back to it,
so entries written on the new primary (whose ids start after its own last entry, which
may be below our position) are read, and entries it has that we never saw (ids after
our position) are read as usual.

Writes are batched: whatever the node produced since the last flush goes out in
pipelined MULTI/EXEC round trips, in order.  What an entry means is not the
transport's business: every decoded message goes to the ``deliver`` callback.

The backlog (messages posted but not yet written, e.g. while Redis is away) is
bounded by ``BACKLOG_MAX_BYTES`` and ``BACKLOG_MAX_MESSAGES``.  Beyond either,
``post`` refuses the message (returns False; the caller answers the player
``server_busy`` or drops what it was sending), except the few messages that end a
connection or a quiz (``ALWAYS_SENT``): there is at most one of those per connection,
so the node's connection cap already bounds them.  A backlog is written oldest first in
round trips of at most ``WRITE_BATCH_MESSAGES`` entries, and written entries are
dropped at once, so its memory is returned as Redis takes it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import redis
import trio

from quizd.cluster import messages
from quizd.cluster.messages import (
    CloseOne,
    JoinUndone,
    QuizMoved,
    RelayDecodeError,
    RelayMessage,
    RemoteLost,
    ToOwner,
)
from quizd.cluster.redis_port import RedisPort
from quizd.ops import metrics

log = logging.getLogger("quizd.cluster")

STREAM_MAXLEN = 200_000
READ_COUNT = 1000
READ_BLOCK_MS = 500
# The bound of the write backlog (docs/cluster.md, "Bounds"): about 20 s of a busy
# node's relay traffic, far less than the memory a Redis outage used to cost.
BACKLOG_MAX_BYTES = 16 * 1024 * 1024
BACKLOG_MAX_MESSAGES = 50_000
# What one MULTI/EXEC round trip writes at most, so a drained backlog goes in steps
# that each finish well within the socket timeout.
WRITE_BATCH_MESSAGES = 2000
WRITE_BATCH_BYTES = 1024 * 1024
# What is sent whatever the backlog: at most one per connection (or per quiz), and
# dropping it would leave a player connected to nothing or an owner bound to a ghost.
ALWAYS_SENT: tuple[type[RelayMessage], ...] = (RemoteLost, CloseOne, QuizMoved, JoinUndone)


def inbox_stream(node_id: str) -> str:
    return f"quizd:in:{node_id}"


def outbox_stream(node_id: str) -> str:
    return f"quizd:out:{node_id}"


def wall_ms() -> int:
    return int(time.time() * 1000)


def _stream_id(raw: bytes | str) -> tuple[int, int]:
    """A stream entry id ``<ms>-<seq>`` as numbers, for ordering."""
    text = raw.decode() if isinstance(raw, bytes) else raw
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


def to_wall(monotonic: float) -> int:
    """A Trio clock instant as wall-clock milliseconds (what crosses between nodes)."""
    return int((time.time() - (trio.current_time() - monotonic)) * 1000)


def to_monotonic(wall: int) -> float:
    """Wall-clock milliseconds from another node as an instant of this node's Trio clock."""
    return trio.current_time() - (time.time() - wall / 1000)


class RelayTransport:
    """Batched writes to other nodes' streams and the reader of this node's own two."""

    def __init__(self, port: RedisPort, node_id: str, deliver: Callable[[RelayMessage], None]) -> None:
        self.port = port
        self.node_id = node_id
        self._deliver = deliver
        self._outgoing: list[tuple[str, bytes]] = []  # (stream, entry), in posting order
        self.max_bytes = BACKLOG_MAX_BYTES
        self.max_messages = BACKLOG_MAX_MESSAGES
        self.backlog_bytes = 0
        self.backlog_messages = 0
        self._full = False  # refusing since the backlog reached its bound (logged once)
        self._wake = trio.Event()
        self._last_ids = {inbox_stream(node_id): b"$", outbox_stream(node_id): b"$"}
        self._nursery: trio.Nursery | None = None

    def post(self, node_id: str, message: RelayMessage) -> bool:
        """Queue ``message`` for ``node_id``: its inbox or its outbox, by the message's class.

        False when the backlog is full and the message was refused (not queued).
        """
        to_owner = isinstance(message, ToOwner)
        stream = inbox_stream(node_id) if to_owner else outbox_stream(node_id)
        entry = messages.encode(message, wall_ms())
        if not isinstance(message, ALWAYS_SENT) and (
            self.backlog_messages >= self.max_messages or self.backlog_bytes + len(entry) > self.max_bytes
        ):
            metrics.RELAY_REFUSED.labels("gateway" if to_owner else "owner").inc()
            if not self._full:
                self._full = True
                log.error(
                    "relay backlog full; refusing relay messages until Redis takes them",
                    extra={"backlogBytes": self.backlog_bytes, "backlogMessages": self.backlog_messages},
                )
            return False
        self._outgoing.append((stream, entry))
        self._account(1, len(entry))
        self._wake.set()
        return True

    def _account(self, count: int, size: int) -> None:
        self.backlog_messages += count
        self.backlog_bytes += size
        metrics.RELAY_BACKLOG_MESSAGES.set(self.backlog_messages)
        metrics.RELAY_BACKLOG_BYTES.set(self.backlog_bytes)

    def start_soon(self, task: Callable[[], Awaitable[None]]) -> None:
        """Run ``task`` beside the reader (an RPC may take seconds: never hold up the relay)."""
        assert self._nursery is not None, "the relay is not running"
        self._nursery.start_soon(task)

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            await self._start_positions()
            nursery.start_soon(self._writer)
            nursery.start_soon(self._reader)
            task_status.started()

    async def _start_positions(self) -> None:
        """Read from the current end of our streams (not "$" on every read, which
        would skip whatever arrives between two reads before the first entry)."""
        for stream in list(self._last_ids):
            last: list[Any] = []
            for _ in range(50):
                try:
                    last = await self.port.call(self.port.client.xrevrange, stream, count=1)  # type: ignore[arg-type]
                    break
                except redis.RedisError:
                    await trio.sleep(0.1)
            self._last_ids[stream] = last[0][0] if last else b"0-0"

    def _take_batch(self) -> list[tuple[str, bytes]]:
        """The oldest entries, at most ``WRITE_BATCH_MESSAGES`` / ``WRITE_BATCH_BYTES`` of them
        (at least one): a whole backlog in one MULTI could outlast the socket timeout
        and be retried forever."""
        size = 0
        end = 0
        for _stream, entry in self._outgoing:
            if end >= WRITE_BATCH_MESSAGES or (end and size + len(entry) > WRITE_BATCH_BYTES):
                break
            size += len(entry)
            end += 1
        batch = self._outgoing[:end]
        if end == len(self._outgoing):
            self._outgoing = []  # a fresh list: the capacity a backlog grew to is given back
        else:
            del self._outgoing[:end]
        return batch

    async def _writer(self) -> None:
        backoff = 0.05
        while True:
            await self._wake.wait()
            self._wake = trio.Event()
            while self._outgoing:
                batch = self._take_batch()
                backoff = await self._write(batch, backoff)
                self._account(-len(batch), -sum(len(entry) for _stream, entry in batch))
                del batch  # the written entries go now, not at the next batch
                if (
                    self._full
                    and self.backlog_messages <= self.max_messages // 2
                    and self.backlog_bytes <= self.max_bytes // 2
                ):
                    self._full = False
                    log.warning("relay backlog drained; relay messages accepted again")

    async def _write(self, batch: list[tuple[str, bytes]], backoff: float) -> float:
        """Write ``batch`` in one MULTI/EXEC, retrying until Redis takes it; the next backoff."""

        def write() -> None:
            # MULTI/EXEC: a batch lands whole or not at all, so a retry never doubles it.
            pipe = self.port.client.pipeline(transaction=True)
            for stream, entry in batch:
                pipe.xadd(stream, {b"m": entry}, maxlen=STREAM_MAXLEN, approximate=True)
            pipe.execute()

        while True:
            try:
                await self.port.call(write)
                metrics.RELAY_MESSAGES.labels("out").inc(len(batch))
                return 0.05
            except redis.RedisError as exc:
                log.warning("relay write failed; retrying: %s", exc)
                await trio.sleep(backoff)
                backoff = min(backoff * 2, 1.0)

    async def _recheck_positions(self) -> None:
        """Bring a read position beyond its stream's last entry back to that entry."""
        for stream, position in list(self._last_ids.items()):
            if position == b"$":
                continue  # not placed yet: _start_positions never reached Redis
            last: list[Any] = await self.port.call(self.port.client.xrevrange, stream, count=1)  # type: ignore[arg-type]
            top = last[0][0] if last else b"0-0"
            if _stream_id(top) < _stream_id(position):
                log.warning(
                    "relay stream is behind this node's read position (a promotion lost entries); "
                    "reading on from its end",
                    extra={"stream": stream, "position": position, "end": top},
                )
                self._last_ids[stream] = top

    async def _reader(self) -> None:
        backoff = 0.05
        recheck = False
        while True:
            try:
                if recheck:
                    await self._recheck_positions()
                    recheck = False
                response: Any = await self.port.call(
                    self.port.client.xread,
                    dict(self._last_ids),
                    count=READ_COUNT,
                    block=READ_BLOCK_MS,
                    blocking=True,
                )
                backoff = 0.05
            except redis.RedisError as exc:
                log.warning("relay read failed; retrying: %s", exc)
                recheck = True
                await trio.sleep(backoff)
                backoff = min(backoff * 2, 1.0)
                continue
            for stream, entries in response or []:
                name = stream.decode() if isinstance(stream, bytes) else stream
                for entry_id, fields in entries:
                    self._last_ids[name] = entry_id
                    self._handle(fields)
                metrics.RELAY_MESSAGES.labels("in").inc(len(entries))

    def _handle(self, fields: dict[bytes, bytes]) -> None:
        try:
            entry = messages.decode(fields[b"m"])
        except (RelayDecodeError, KeyError) as exc:
            log.warning("bad relay entry skipped: %s", exc)
            return
        metrics.RELAY_LAG.observe(max(0.0, (wall_ms() - entry.sent_at_ms) / 1000))
        log.debug("relay in %s", entry.message.TAG, extra={"relay": entry.message})
        try:
            self._deliver(entry.message)
        except Exception:
            log.exception("relay message failed", extra={"relay": entry.message})
