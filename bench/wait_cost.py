"""What ``WAIT`` costs a group commit: p50/p99 of the fenced snapshot write, with and without.

Starts a redis-server primary and one replica (``--replicaof``) on loopback, takes a
quiz's lease, and times ``SnapshotStore.commit`` (the actor's group commit: the meta
and a few changed participants in one FENCED_WRITE) through the node's own RedisPort,
first with ``[cluster] wait_replicas = 0``, then with 1 (``wait_timeout_ms`` 100).
The figures in docs/cluster.md ("Replica wait") come from this script:

    PYTHONPATH=$PWD .venv/bin/python bench/wait_cost.py [--commits 2000] [--changed 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import trio

from quizd.cluster.coordination import Leases
from quizd.cluster.redis_port import RedisPort
from quizd.cluster.store import ReplicaWait, SnapshotStore
from quizd.game.definitions import Question, QuizDefinition
from quizd.game.quiz import GameSettings, QuizGame
from quizd.ops import metrics
from quizd.testing.procs import RedisServer

PLAYERS = 50


def quiz(quiz_id: str) -> QuizGame:
    definition = QuizDefinition(
        id="bench",
        title="Bench",
        questions=(Question("Q", ("a", "b", "c", "d"), 0, 20000, 1000),),
    )
    game = QuizGame(quiz_id, definition, GameSettings(), trio.current_time(), host_token="h")
    for n in range(PLAYERS):
        game.join_player(f"player-{n}", trio.current_time())
    return game


async def measure(url: str, wait: ReplicaWait, commits: int, changed: int) -> list[float]:
    port = RedisPort(url)
    try:
        leases = Leases(port, "bench-node", 60_000, 120_000, nonce="bench")
        quiz_id = f"wait-{wait.replicas}-{time.monotonic_ns()}"
        epoch = await leases.acquire(quiz_id)
        assert epoch is not None
        store = SnapshotStore(port, 120_000, wait)
        game = quiz(quiz_id)
        token = leases.token(epoch)
        await store.create(game, token, trio.current_time())
        pids = list(game.participants)
        took = []
        for i in range(commits):
            game.dirty.update(pids[(i * changed + k) % len(pids)] for k in range(changed))
            start = time.perf_counter()
            await store.commit(game, token, trio.current_time())
            took.append(time.perf_counter() - start)
        return took
    finally:
        port.close()


def synced(replica: RedisServer) -> None:
    """Until the replica's first sync is done (before it, every WAIT would time out)."""
    end = time.monotonic() + 20
    while time.monotonic() < end:
        with replica.client() as client:
            if client.info("replication").get("master_link_status") == "up":
                return
        time.sleep(0.05)
    raise RuntimeError("the replica did not sync")


def summary(label: str, took: list[float]) -> str:
    ms = sorted(t * 1000 for t in took)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    return f"{label:<26} p50 {statistics.median(ms):6.3f} ms   p99 {p99:6.3f} ms   max {ms[-1]:7.3f} ms   (n={len(ms)})"


async def main(commits: int, changed: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        primary = RedisServer(Path(tmp) / "primary")
        primary.start()
        replica = RedisServer(Path(tmp) / "replica", extra_args=("--replicaof", "127.0.0.1", str(primary.port)))
        replica.start()
        try:
            await trio.to_thread.run_sync(synced, replica)
            without = await measure(primary.url, ReplicaWait(0), commits, changed)
            with_wait = await measure(primary.url, ReplicaWait(1, 100), commits, changed)
        finally:
            replica.stop()
            primary.stop()
    print(
        f"group commit of {changed} changed participants (+ meta), {PLAYERS}-player quiz, "
        f"primary + 1 replica on loopback:"
    )
    print(summary("wait_replicas = 0", without))
    print(summary("wait_replicas = 1 (100 ms)", with_wait))
    print(f"WAIT timeouts: {metrics.REDIS_WAIT_TIMEOUTS._value.get():.0f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=2000)
    parser.add_argument("--changed", type=int, default=5)
    options = parser.parse_args()
    trio.run(main, options.commits, options.changed)
