"""Redis stopped (SIGKILL) and restarted on the same port during a quiz.

This module's Redis keeps its data across the restart (append-only file, fsync on every
write), so what the nodes made durable before the crash is there afterwards:

* a short blip (0.5 s, well under the lease, ``node_timeout_ms`` = 2 s): answers sent during it
  are simply acknowledged late, once Redis is back; nobody is disconnected and the quiz
  keeps its owner and epoch;
* a longer outage (2 s, more than the lease): the owner gives the quiz up, every
  participant is closed with 1012 and resumes once Redis is back, on a new epoch.

Either way no acknowledged answer is lost.
"""

from __future__ import annotations

import trio

from quizd.client import ControlClient
from tests.cluster.clusterkit import (
    PersistentRedis,
    Stopwatch,
    all_of,
    cluster_tables,
    lease,
    node_ids,
    pick_quiz_id,
    ring_owner,
    snapshot_participants,
    wait_members,
)
from tests.cluster.players import Participant
from tests.nodekit import quiz_toml

QUIZ = {"q": quiz_toml("q", questions=2, reveal_ms=60000, time_limit_ms=60000)}
BLIP_S = 0.5
BLIP_LEASE_MS = 2000
OUTAGE_S = 2.0  # with the default lease of these tests, 1 s


async def start_quiz(
    redis_srv: PersistentRedis, node_factory, nursery: trio.Nursery, prefix: str, node_timeout_ms: int = 1000
):
    """Two nodes, a quiz owned by test-node-0, the host and Bob/Cat on node 1, Ann/Dan on node 0."""
    tables = cluster_tables(redis_srv.url)
    tables["cluster"]["node_timeout_ms"] = node_timeout_ms
    nodes = [node_factory(definitions=QUIZ, **tables) for _ in range(2)]
    for node in nodes:
        await wait_members(ControlClient(node.http_url, node.token), 2)
    quiz_id = pick_quiz_id(prefix, lambda q: ring_owner(q, node_ids(2)) == "test-node-0")
    created = await ControlClient(nodes[1].http_url, nodes[1].token).create_quiz("q", quiz_id=quiz_id)
    urls = [n.ws_url for n in nodes]
    host = Participant(nursery, quiz_id, "host", lambda: urls)
    await host.join(nodes[1].ws_url, hostToken=created["hostToken"])
    players = {name: Participant(nursery, quiz_id, name, lambda: urls) for name in ("Ann", "Bob", "Cat", "Dan")}
    for name, node in zip(players, (nodes[0], nodes[1], nodes[1], nodes[0]), strict=True):
        await players[name].join(node.ws_url, name=name)
    await host.call("start")
    for p in players.values():
        await p.expect("question")
    assert lease(redis_srv.client(), quiz_id) == ("test-node-0", 1)
    return nodes, quiz_id, host, players


async def finish(nodes, quiz_id: str, host: Participant, players: dict[str, Participant]) -> None:
    """Everybody answers what they have not, the quiz ends, the results keep every ack."""
    for index in range(2):
        qid = f"q{index}"
        await all_of(
            *[lambda p=p, qid=qid, index=index: p.answer(qid, index % 4) for p in players.values() if qid not in p.acks]
        )
        await host.host_next(index, "reveal")
        await host.host_next(index, "question" if index == 0 else "ended")
    for p in players.values():
        ended = await p.until_ended()
        assert ended is None or ended["total"] == 4  # None: it ended while p was moving
        p.check_resumes()
    results = await ControlClient(nodes[1].http_url, nodes[1].token).results(quiz_id)
    scores = {e["name"]: e["score"] for e in results["leaderboard"]}
    assert scores == {name: p.score for name, p in players.items()}, (
        scores,
        {name: p.acks for name, p in players.items()},
    )


async def test_a_short_redis_blip_only_delays_the_acks(persistent_redis, node_factory):
    async with trio.open_nursery() as nursery:
        # A lease (node_timeout_ms) of 2 s: the 0.5 s blip is clearly shorter, whatever the
        # scheduling delays of a busy test machine.
        nodes, quiz_id, host, players = await start_quiz(
            persistent_redis, node_factory, nursery, "blip", node_timeout_ms=BLIP_LEASE_MS
        )
        ann, bob, dan = players["Ann"], players["Bob"], players["Dan"]
        acked_before = (await ann.answer("q0", 0))["score"]

        clock = Stopwatch()
        persistent_redis.kill()
        killed = clock()
        back = 0.0

        async def restart() -> None:
            nonlocal back
            await trio.sleep(BLIP_S)
            await trio.to_thread.run_sync(persistent_redis.start)
            back = clock()

        dan_ack, bob_ack, _ = await all_of(
            lambda: dan.answer("q0", 0),  # a local participant of the owner
            lambda: bob.answer("q0", 1),  # relayed from the other node
            restart,
        )
        dan_at, bob_at = dan.ack_log[-1][0], bob.ack_log[-1][0]
        print(
            f"\nRedis down {killed:.3f}..{back:.3f} s; Dan's ack at +{dan_at - clock.start:.3f} s, "
            f"Bob's at +{bob_at - clock.start:.3f} s"
        )
        assert dan_ack["correct"] and not bob_ack["correct"]
        # Acknowledged only once Redis was back (the answer had to be durable first) ...
        assert min(dan_at, bob_at) - clock.start >= back - 0.05
        # ... and nobody was sent away: same owner, same epoch.
        for p in [host, *players.values()]:
            assert p.closes == [], (p.name, p.closes)
        assert lease(persistent_redis.client(), quiz_id) == ("test-node-0", 1)
        stored = snapshot_participants(persistent_redis.client(), quiz_id)
        assert stored["Ann"]["score"] == acked_before and stored["Dan"]["answers"]["q0"][0] == 0
        assert stored["Bob"]["answers"]["q0"][0] == 1
        await finish(nodes, quiz_id, host, players)
        for p in [host, *players.values()]:
            assert all(int(c) == 4004 for c in p.closes), (p.name, p.closes)  # only the quiz's end
        nursery.cancel_scope.cancel()


async def test_a_redis_outage_longer_than_the_lease_moves_everyone_without_losing_an_ack(
    persistent_redis, node_factory
):
    async with trio.open_nursery() as nursery:
        nodes, quiz_id, host, players = await start_quiz(persistent_redis, node_factory, nursery, "outage")
        ann, bob, dan = players["Ann"], players["Bob"], players["Dan"]
        acked = {"Ann": (await ann.answer("q0", 0))["score"], "Bob": (await bob.answer("q0", 1))["score"]}

        clock = Stopwatch()
        persistent_redis.kill()
        back = 0.0

        async def restart() -> None:
            nonlocal back
            await trio.sleep(OUTAGE_S)
            await trio.to_thread.run_sync(persistent_redis.start)
            back = clock()

        async def everyone_closed() -> list[int]:
            # (Dan's connection is read by his answer() alone.)
            return await all_of(*[lambda p=p: p.wait_closed(timeout=20) for p in [host, ann, bob, players["Cat"]]])

        # Dan answers during the outage: it cannot be made durable, so it is not acknowledged
        # before Redis is back; Dan is sent to resume and answers again there.
        codes, _dan_ack, _ = await all_of(everyone_closed, lambda: dan.answer("q0", 0, timeout=30), restart)
        assert all(int(code) == 1012 for code in codes), codes
        dan_at = dan.ack_log[-1][0] - clock.start
        assert dan_at >= back - 0.05, (dan_at, back)
        assert dan.closes and int(dan.closes[0]) == 1012
        await all_of(*[p.resume for p in [host, ann, bob, players["Cat"]]])
        resumed = clock()
        now_lease = lease(persistent_redis.client(), quiz_id)
        attempts = {
            p.name: [
                (round(clock.at(t), 2), o if o == "joined" else o.get("message", o)) for _u, t, _took, o in p.attempts
            ]
            for p in [host, *players.values()]
        }
        print(
            f"\nRedis down 0..{back:.2f} s; all closed with 1012; Dan acknowledged at {dan_at:.2f} s; "
            f"all resumed at {resumed:.2f} s; lease now {now_lease}; resume attempts {attempts}"
        )
        assert now_lease is not None and now_lease[1] > 1
        for p in [host, *players.values()]:
            for _url, at, _joined in p.resumes:
                assert at - clock.start >= back - 0.05, (p.name, "resumed while Redis was down?")
            if p.name in acked:
                assert p.resumes[0][2]["score"] == acked[p.name], (p.name, p.resumes[0][2], acked)
        await finish(nodes, quiz_id, host, players)
        nursery.cancel_scope.cancel()
