"""Redis behind Sentinel: ``kill -9`` of the primary during a quiz question.

One primary, one replica, three ``redis-sentinel`` processes (quizd/testing/procs.py,
``SentinelGroup``) and three quizd nodes on ``redis+sentinel://``.  The primary dies
mid-question; Sentinel promotes the replica within a few seconds.  The quiz goes on
there: the nodes follow the promotion (redis-py re-asks the Sentinels), owners keep or
re-take their leases, players who were sent away resume, and every answer acknowledged
before, during and after the failover is in the results, because each group commit
waited for the replica (``[cluster] wait_replicas``, 1 by default with Sentinel).

Then the old primary comes back: Sentinel makes it a replica of the new one, and the
quiz still has one lease holder and one copy.

And the worst moment: the quiz's owner and the Redis primary are killed together, so
the takeover runs while Redis fails over; the quiz is restored from the replica's copy
of its snapshot on another node, and no acknowledged answer is missing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trio

from quizd.client import ControlClient
from quizd.testing.procs import REDIS_SENTINEL, SentinelGroup
from tests.cluster.clusterkit import (
    Stopwatch,
    all_of,
    lease,
    metric,
    node_ids,
    pick_quiz_id,
    ring_owner,
    snapshot_participants,
)
from tests.cluster.players import Participant
from tests.nodekit import quiz_toml

QUIZ = {"q": quiz_toml("q", questions=2, reveal_ms=60000, time_limit_ms=60000)}
NAMES = ("Ann", "Bob", "Cat", "Dan", "Eve", "Fay")


@pytest.fixture
def sentinel_group(tmp_path: Path) -> Iterator[SentinelGroup]:
    if REDIS_SENTINEL is None:
        pytest.fail("redis-sentinel is not installed (Debian package redis-sentinel; scripts/test installs it)")
    group = SentinelGroup(tmp_path / "redis")
    try:
        group.start()
        yield group
    finally:
        group.stop()


async def wait_members(control: ControlClient, count: int) -> None:
    with trio.fail_after(20):
        while await metric(control, "quizd_cluster_members") < count:
            await trio.sleep(0.1)


async def start_quiz(group: SentinelGroup, node_factory: Any, nursery: trio.Nursery, prefix: str):
    """Three nodes on Sentinel; a quiz owned by test-node-0, mid-question; the host on node
    1 and the players spread over the three nodes (they resume on whichever still runs)."""
    tables = {"cluster": {"redis_url": group.url, "heartbeat_ms": 200, "node_timeout_ms": 2000}}
    nodes = [node_factory(definitions=QUIZ, **tables) for _ in range(3)]
    controls = [ControlClient(n.http_url, n.token) for n in nodes]
    for control in controls:
        await wait_members(control, 3)
    quiz_id = pick_quiz_id(prefix, lambda q: ring_owner(q, node_ids(3)) == "test-node-0")
    created = await controls[1].create_quiz("q", quiz_id=quiz_id)

    def urls() -> list[str]:
        return [n.ws_url for n in nodes if n.running]

    host = Participant(nursery, quiz_id, "host", urls)
    await host.join(nodes[1].ws_url, hostToken=created["hostToken"])
    players = {name: Participant(nursery, quiz_id, name, urls) for name in NAMES}
    for index, (name, player) in enumerate(players.items()):
        await player.join(nodes[index % 3].ws_url, name=name)
    await host.call("start")
    for player in players.values():
        await player.expect("question")
    return nodes, controls, quiz_id, host, players


async def finish(control: ControlClient, quiz_id: str, host: Participant, players: dict[str, Participant]) -> None:
    """The rest of the quiz; the results hold exactly the acknowledged scores."""
    await host.host_next(0, "reveal")
    await host.host_next(0, "question")
    await all_of(*[lambda p=p: p.answer("q1", 0) for p in players.values()])
    await host.host_next(1, "reveal")
    await host.host_next(1, "ended")
    for player in players.values():
        ended = await player.until_ended()
        assert ended is None or ended["total"] == len(NAMES)
        player.check_resumes()
    results = await control.results(quiz_id)
    scores = {e["name"]: e["score"] for e in results["leaderboard"]}
    assert scores == {name: p.score for name, p in players.items()}, (
        scores,
        {name: p.acks for name, p in players.items()},
    )
    for participant in [host, *players.values()]:
        await participant.close()


async def test_a_primary_killed_mid_question_loses_no_acknowledged_answer(sentinel_group, node_factory):
    group = sentinel_group
    async with trio.open_nursery() as nursery:
        _nodes, controls, quiz_id, host, players = await start_quiz(group, node_factory, nursery, "sentinel")

        # Half answer before the crash: acknowledged, so on the replica too (WAIT).
        before = ("Ann", "Bob", "Cat")
        await all_of(*[lambda p=players[n]: p.answer("q0", 0) for n in before])
        assert await metric(controls[0], "quizd_redis_wait_replicas_count") >= 1  # commits went through WAIT

        old_port = group.primary_port()
        clock = Stopwatch()
        group.servers[old_port].kill()
        # The other half answer during the failover: each ack waits until it is durable
        # on the new primary (or its player is sent away and answers again after a resume).
        during = await all_of(*[lambda p=players[n]: p.answer("q0", 1, timeout=45) for n in NAMES if n not in before])
        resumed_at = clock()
        new_port = await trio.to_thread.run_sync(group.wait_promoted, old_port)
        promoted_at = clock()
        assert new_port != old_port and len(during) == 3
        closes = {p.name: p.closes for p in [host, *players.values()]}
        print(
            f"\nprimary killed at 0; replica {new_port} promoted by {promoted_at:.2f} s; "
            f"play resumed (every answer sent during the failover acknowledged) at {resumed_at:.2f} s; "
            f"closes {closes}"
        )

        # The old primary returns empty and Sentinel makes it a replica of the new one.
        await trio.to_thread.run_sync(group.servers[old_port].start)
        await trio.to_thread.run_sync(lambda: group.wait_replica_of(old_port, new_port, timeout=40))

        with group.primary_client() as new_primary:
            stored = snapshot_participants(new_primary, quiz_id)
            holder = lease(new_primary, quiz_id)
        for name, player in players.items():
            assert stored[name]["score"] == player.score, (name, stored[name], player.acks)
        assert holder is not None
        # One copy: only the lease holder runs the quiz.
        owned = [await metric(c, "quizd_cluster_quizzes_owned") for c in controls]
        assert sorted(owned) == [0, 0, 1], owned
        assert sum([await metric(c, "quizd_redis_primary_changes_total") for c in controls]) >= 1

        await finish(controls[2], quiz_id, host, players)
        nursery.cancel_scope.cancel()


async def test_a_promotion_during_the_takeover_of_a_killed_owners_quiz(sentinel_group, node_factory):
    group = sentinel_group
    async with trio.open_nursery() as nursery:
        nodes, controls, quiz_id, host, players = await start_quiz(group, node_factory, nursery, "both")
        before = ("Ann", "Bob", "Cat")
        await all_of(*[lambda p=players[n]: p.answer("q0", 0) for n in before])

        # The owner and the Redis primary die at the same moment.
        old_port = group.primary_port()
        clock = Stopwatch()
        nodes[0].kill()
        group.servers[old_port].kill()
        during = await all_of(*[lambda p=players[n]: p.answer("q0", 1, timeout=50) for n in NAMES if n not in before])
        resumed_at = clock()
        assert len(during) == 3
        new_port = await trio.to_thread.run_sync(group.wait_promoted, old_port)
        with group.primary_client() as new_primary:
            holder = lease(new_primary, quiz_id)
            stored = snapshot_participants(new_primary, quiz_id)
        print(
            f"\nowner and primary killed at 0; replica {new_port} promoted; quiz taken over by {holder}; "
            f"every answer sent meanwhile acknowledged by {resumed_at:.2f} s"
        )
        assert holder is not None and holder[0] != "test-node-0"
        for name in before:
            assert stored[name]["score"] == players[name].score, (name, stored[name], players[name].acks)
        owned = [await metric(c, "quizd_cluster_quizzes_owned") for c in controls[1:]]
        assert sorted(owned) == [0, 1], owned
        await finish(controls[1], quiz_id, host, players)
        nursery.cancel_scope.cancel()
