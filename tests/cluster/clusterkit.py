"""Helpers shared by the cluster tests: ring placement, metrics, Redis inspection, timing."""

from __future__ import annotations

import signal
from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import Any

import orjson
import redis
import trio
from trio_websocket import ConnectionClosed
from uhashring import HashRing

from quizd.client import ControlClient, QuizConnection, connect
from quizd.testing.procs import RedisServer
from tests.cluster.players import Participant


def ring_owner(quiz_id: str, node_ids: list[str]) -> str:
    """The node the ring gives ``quiz_id`` to, exactly as quizd computes it."""
    return HashRing(nodes=sorted(node_ids)).get_node(quiz_id)


def pick_quiz_id(prefix: str, want: Callable[[str], bool]) -> str:
    """The first ``<prefix>-<n>`` that satisfies ``want`` (a placement on the ring)."""
    for n in range(10_000):
        quiz_id = f"{prefix}-{n}"
        if want(quiz_id):
            return quiz_id
    raise AssertionError(f"no quiz id with prefix {prefix!r} fits")


def node_ids(count: int, first: int = 0) -> list[str]:
    return [f"test-node-{i}" for i in range(first, first + count)]


async def metric(control: ControlClient, name: str, labels: str = "") -> float:
    """One sample of ``/metrics`` (``labels`` like ``result="fenced"``), 0 when absent."""
    _status, body = await control.request("GET", "/metrics", raw=True)
    wanted = f"{name}{{{labels}}}" if labels else name
    for line in body.decode().splitlines():
        if line.startswith(wanted + " "):
            return float(line.split()[-1])
    return 0.0


def lease(client: redis.Redis, quiz_id: str) -> tuple[str, int] | None:
    raw = client.get(f"quizd:lease:{quiz_id}")
    if raw is None:
        return None
    node, _, rest = raw.decode().partition("|")  # "<node>|<nonce>|<epoch>"
    return node, int(rest.rpartition("|")[2])


async def wait_lease(
    client: redis.Redis, quiz_id: str, want: Callable[[tuple[str, int] | None], bool], timeout: float = 15.0
) -> tuple[str, int] | None:
    with trio.fail_after(timeout):
        while True:
            try:
                current = lease(client, quiz_id)
            except redis.RedisError:
                current = None
            else:
                if want(current):
                    return current
            await trio.sleep(0.05)


def snapshot_participants(client: redis.Redis, quiz_id: str) -> dict[str, dict[str, Any]]:
    """The participant records of the quiz's snapshot in Redis, by name."""
    raw = client.hgetall(f"quizd:snap:{quiz_id}")
    out = {}
    for key, value in raw.items():
        if key.startswith(b"p:"):
            record = orjson.loads(value)
            out[record["name"]] = record
    return out


def snapshot_meta(client: redis.Redis, quiz_id: str) -> dict[str, Any]:
    return orjson.loads(client.hget(f"quizd:snap:{quiz_id}", "meta"))


async def start_node(node_factory: Any, **kwargs: Any) -> Any:
    """``node_factory`` in a worker thread, so the test's connections keep being served."""
    return await trio.to_thread.run_sync(lambda: node_factory(**kwargs))


async def wait_exit(node: Any, timeout: float = 20.0) -> int:
    return await trio.to_thread.run_sync(lambda: node.wait(timeout))


class Stopwatch:
    """Seconds since it was made, on Trio's clock (the clock ``Participant`` stamps acks with)."""

    def __init__(self) -> None:
        self.start = trio.current_time()

    def __call__(self) -> float:
        return trio.current_time() - self.start

    def at(self, when: float) -> float:
        return when - self.start


async def all_of(*calls: Callable[[], Any]) -> list[Any]:
    """Run the zero-argument async callables concurrently; their results in order."""
    results: list[Any] = [None] * len(calls)

    async def one(i: int, fn: Callable[[], Any]) -> None:
        results[i] = await fn()

    async with trio.open_nursery() as nursery:
        for i, fn in enumerate(calls):
            nursery.start_soon(one, i, fn)
    return results


def log_lines(node: Any) -> list[dict[str, Any]]:
    """The node's JSON log lines (``<tmp>/node<i>/stderr.log``)."""
    lines = []
    for line in (node.tmp / "stderr.log").read_text().splitlines():
        try:
            lines.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            lines.append({"message": line})
    return lines


def log_has(node: Any, *needles: str) -> bool:
    text = (node.tmp / "stderr.log").read_text()
    return any(needle in text for needle in needles)


def cluster_tables(redis_url: str) -> dict:
    return {"cluster": {"redis_url": redis_url, "heartbeat_ms": 200, "node_timeout_ms": 1000}}


async def wait_members(control: ControlClient, count: int) -> None:
    with trio.fail_after(15):
        while True:
            _status, body = await control.request("GET", "/metrics", raw=True)
            for line in body.decode().splitlines():
                if line.startswith("quizd_cluster_members ") and float(line.split()[1]) >= count:
                    return
            await trio.sleep(0.1)


async def play_to_the_end(host: Participant, players: list[Participant], first: int, total: int) -> None:
    """From question ``first`` (open) to the end: everybody answers, the host moves on."""
    for index in range(first, total):
        pending = [p for p in players if f"q{index}" not in p.acks]
        await all_of(*[lambda p=p, i=index: p.answer(f"q{i}", i % 4) for p in pending])
        await host.host_next(index, "reveal")
        await host.host_next(index, "question" if index + 1 < total else "ended")


async def resume(stack: AsyncExitStack, urls: list[str], quiz_id: str, token: str, key: str = "resumeToken"):
    """Join again with the token on any live node, honouring server_busy."""
    # A plain deadline, not a cancel scope: connections entered here outlive this call.
    deadline = trio.current_time() + 20
    while trio.current_time() < deadline:
        for url in urls:
            try:
                conn: QuizConnection = await stack.enter_async_context(connect(url))
            except OSError:
                continue
            msg_id = await conn.send("join", {"quizId": quiz_id, key: token})
            with trio.fail_after(10):
                while True:
                    reply = await conn.recv()
                    if reply.get("re") == msg_id:
                        break
            if reply["type"] == "joined":
                return conn, reply
            assert reply["payload"]["code"] == "server_busy", reply
            await conn.close()
            await trio.sleep(reply["payload"].get("details", {}).get("retryAfterMs", 200) / 1000)
    raise AssertionError(f"could not resume within 20 s on {urls}")


async def wait_closed(conn: QuizConnection) -> int:
    with trio.fail_after(15):
        try:
            while True:
                await conn.recv(15)
        except ConnectionClosed as closed:
            return closed.reason.code


class PersistentRedis(RedisServer):
    """A redis-server with an fsync'ed append-only file, restarted on the same port."""

    persistence = ("--save", "", "--appendonly", "yes", "--appendfsync", "always")

    def kill(self) -> None:
        """A crash: SIGKILL, no shutdown work (what was fsync'ed is all that survives)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self.process = None
