"""Planned moves: a node joining mid-quiz takes its quiz over; a SIGTERM'd owner hands it on
(after running it for drain_timeout_s); a resume racing a hand-over is told to retry.

Real redis-server, real quizd processes on loopback.  Players sit on every node; when the
quiz moves they are closed with 1012, resume on any node with their token, and find
every acknowledged score where they left it.
"""

from __future__ import annotations

import signal

import trio
from trio_websocket import ConnectionClosed, HandshakeError

from quizd.client import ControlClient, connect
from tests.cluster.clusterkit import (
    Stopwatch,
    all_of,
    cluster_tables,
    lease,
    node_ids,
    pick_quiz_id,
    play_to_the_end,
    ring_owner,
    start_node,
    wait_exit,
    wait_lease,
    wait_members,
)
from tests.cluster.players import Participant
from tests.nodekit import quiz_toml
from tests.tcp_proxy import TcpProxy

QUIZ = {"q": quiz_toml("q", questions=3, reveal_ms=60000, time_limit_ms=60000)}


async def test_a_node_joining_mid_quiz_takes_over_its_quiz(redis_server, node_factory):
    tables = cluster_tables(redis_server.url)
    nodes = [node_factory(definitions=QUIZ, **tables) for _ in range(2)]
    controls = [ControlClient(n.http_url, n.token) for n in nodes]
    for control in controls:
        await wait_members(control, 2)
    # A quiz that the ring gives to the third node once it is there.
    quiz_id = pick_quiz_id("join", lambda q: ring_owner(q, node_ids(3)) == "test-node-2")
    created = await controls[1].create_quiz("q", quiz_id=quiz_id)
    before = lease(redis_server.client(), quiz_id)
    assert before is not None and before[0] == ring_owner(quiz_id, node_ids(2)), before
    urls = [n.ws_url for n in nodes]
    async with trio.open_nursery() as nursery:
        host = Participant(nursery, quiz_id, "host", lambda: urls)
        await host.join(nodes[0].ws_url, hostToken=created["hostToken"])
        players = [Participant(nursery, quiz_id, name, lambda: urls) for name in ("Ann", "Bob", "Cat", "Dan")]
        for i, p in enumerate(players):
            await p.join(nodes[i % 2].ws_url, name=p.name)
        await host.call("start")
        for p in players:
            await p.expect("question")
        acked = {p.name: (await p.answer("q0", 0))["score"] for p in players[:2]}  # Cat, Dan answer later
        assert acked["Ann"] > 0 and acked["Bob"] > 0

        clock = Stopwatch()
        third = await start_node(node_factory, definitions=QUIZ, **tables)
        started = clock()
        urls.append(third.ws_url)
        codes = await all_of(*[p.wait_closed for p in [host, *players]])
        closed = clock()
        assert codes == [1012] * 5, codes
        await all_of(*[p.resume for p in [host, *players]])
        resumed = clock()
        moved = await wait_lease(redis_server.client(), quiz_id, lambda v: v is not None and v[0] == "test-node-2")
        print(
            f"\nnode joined after {started:.2f} s; players closed (1012) {closed - started:.2f} s after it was"
            f" ready, all resumed {resumed - started:.2f} s after; lease now {moved}"
        )
        assert moved[1] == before[1] + 1  # a new epoch on the new owner
        for p in players:
            payload = p.joined
            assert payload["quiz"]["phase"] == "question" and payload["question"]["index"] == 0, payload
            assert payload["score"] == acked.get(p.name, 0), (p.name, payload["score"], acked)
            assert payload["question"]["answered"] is (p.name in acked), (p.name, payload["question"])
        assert {url for p in players for url, _t, _j in p.resumes} <= set(urls)
        # The quiz continues on its new owner and ends.
        await play_to_the_end(host, players, 0, 3)
        for p in players:
            ended = await p.until_ended()
            assert ended is None or ended["total"] == 4  # None: it ended while p was moving
        results = await ControlClient(third.http_url, third.token).results(quiz_id)
        scores = {e["name"]: e["score"] for e in results["leaderboard"]}
        for p in players:
            assert scores[p.name] == p.score, (p.name, scores, p.acks)
        nursery.cancel_scope.cancel()


async def test_sigterm_drain_of_the_owner_hands_the_quiz_over(redis_server, node_factory):
    tables = cluster_tables(redis_server.url)
    nodes = [node_factory(definitions=QUIZ, **tables) for _ in range(3)]
    controls = [ControlClient(n.http_url, n.token) for n in nodes]
    for control in controls:
        await wait_members(control, 3)
    quiz_id = pick_quiz_id("drain", lambda q: ring_owner(q, node_ids(3)) == "test-node-0")
    created = await controls[2].create_quiz("q", quiz_id=quiz_id)
    owner, survivors = nodes[0], nodes[1:]
    assert lease(redis_server.client(), quiz_id)[0] == owner.node_id
    urls = [n.ws_url for n in survivors]
    async with trio.open_nursery() as nursery:
        host = Participant(nursery, quiz_id, "host", lambda: urls)
        await host.join(survivors[0].ws_url, hostToken=created["hostToken"])
        players = [Participant(nursery, quiz_id, name, lambda: urls) for name in ("Ann", "Bob", "Cat", "Dan")]
        for i, p in enumerate(players):
            await p.join(nodes[i % 3].ws_url, name=p.name)  # Ann and Dan on the owner
        await host.call("start")
        for p in players:
            await p.expect("question")
        acked = {"Ann": (await players[0].answer("q0", 0))["score"], "Bob": (await players[1].answer("q0", 1))["score"]}

        clock = Stopwatch()
        owner.signal(signal.SIGTERM)
        # The draining owner still runs the quiz until the hand-over: this ack must survive it.
        acked["Cat"] = (await players[2].answer("q0", 0))["score"]
        codes = await all_of(*[p.wait_closed for p in [host, *players]])
        closed = clock()
        assert codes == [1012] * 5, codes  # resume elsewhere, never 4004 (quiz over)
        await all_of(*[p.resume for p in [host, *players]])
        resumed = clock()
        exit_code = await wait_exit(owner)
        exited = clock()
        new = lease(redis_server.client(), quiz_id)
        print(
            f"\nSIGTERM -> players closed (1012) {closed:.2f} s, all resumed {resumed:.2f} s, "
            f"owner exited {exited:.2f} s (drain_timeout_s=2); lease now {new}"
        )
        assert exit_code == 0
        assert new is not None and new[0] in {n.node_id for n in survivors} and new[1] == 2
        for p in players:
            assert p.resumes[-1][0] in urls
            payload = p.joined
            assert payload["quiz"]["phase"] == "question", payload
            assert payload["score"] == acked.get(p.name, 0), (p.name, payload, acked)
            assert payload["question"]["answered"] is (p.name in acked)
        await play_to_the_end(host, players, 0, 3)
        for p in players:
            ended = await p.until_ended()
            assert ended is None or ended["total"] == 4
        results = await ControlClient(survivors[1].http_url, survivors[1].token).results(quiz_id)
        scores = {e["name"]: e["score"] for e in results["leaderboard"]}
        assert scores == {p.name: p.score for p in players}, (scores, {p.name: p.acks for p in players})
        nursery.cancel_scope.cancel()


async def test_a_draining_owner_keeps_running_its_quiz_for_drain_timeout_s(redis_server, node_factory):
    """docs/cluster.md section 10: during drain_timeout_s the quizzes the node owns go on
    there (same lease); only then are they handed over.  (At 27b59b7 the reconcile of a
    draining node handed them over at its next tick.)"""
    tables = cluster_tables(redis_server.url)
    owner = node_factory(definitions=QUIZ, node={"drain_timeout_s": 3}, **tables)
    other = node_factory(definitions=QUIZ, node={"drain_timeout_s": 0}, **tables)
    for node in (owner, other):
        await wait_members(ControlClient(node.http_url, node.token), 2)
    quiz_id = pick_quiz_id("window", lambda q: ring_owner(q, node_ids(2)) == owner.node_id)
    created = await ControlClient(other.http_url, other.token).create_quiz("q", quiz_id=quiz_id)
    urls = [other.ws_url]
    async with trio.open_nursery() as nursery:
        host = Participant(nursery, quiz_id, "host", lambda: urls)
        await host.join(other.ws_url, hostToken=created["hostToken"])
        ann = Participant(nursery, quiz_id, "Ann", lambda: urls)
        bob = Participant(nursery, quiz_id, "Bob", lambda: urls)
        await ann.join(owner.ws_url, name="Ann")
        await bob.join(other.ws_url, name="Bob")
        await host.call("start")
        clock = Stopwatch()
        owner.signal(signal.SIGTERM)
        await trio.sleep(1.0)
        # Still within drain_timeout_s: the quiz runs on, here, on the same lease.
        holder = lease(redis_server.client(), quiz_id)
        try:
            ack = await ann.call("answer", {"questionId": "q0", "choice": 0})
            bob_ack = await bob.call("answer", {"questionId": "q0", "choice": 1})
        except Exception as exc:  # the assertion below says what happened
            ack = bob_ack = exc
        print(f"\n1 s into a 3 s drain: lease {holder}, Ann's answer -> {ack}, Bob's -> {bob_ack}")
        assert holder == (owner.node_id, 1), holder
        assert isinstance(ack, dict) and ack["type"] == "answer_result", ack
        assert isinstance(bob_ack, dict) and bob_ack["type"] == "answer_result", bob_ack
        ann.acks["q0"], bob.acks["q0"] = ack["payload"], bob_ack["payload"]
        # Then the hand-over: 1012, and the quiz goes on elsewhere with both answers.
        codes = await all_of(*[p.wait_closed for p in (host, ann, bob)])
        moved = clock()
        assert [int(c) for c in codes] == [1012] * 3
        assert moved >= 2.5, f"handed over {moved:.2f} s after SIGTERM, drain_timeout_s is 3"
        for p in (host, ann, bob):
            await p.resume()
            assert p.is_host or p.joined["score"] == p.score
        assert await wait_exit(owner) == 0
        nursery.cancel_scope.cancel()


async def test_a_resume_racing_a_hand_over_is_told_to_retry_not_that_the_quiz_ended(redis_server, node_factory):
    """While the owner makes its hand-over durable, a resume that reaches it must get
    ``server_busy`` (or succeed and be moved with 1012), never ``quiz_ended``: a client
    stops for good on ``quiz_ended`` (docs/protocol.md 12.5), though the quiz goes on."""
    r = redis_server.client()
    async with trio.open_nursery() as nursery:
        # The owner's Redis link is slow (a round trip of 0.3 s), so its hand-over write lasts
        # long enough for resumes to arrive meanwhile.
        proxy = TcpProxy(redis_server.port)
        await nursery.start(proxy.run)
        slow = {"redis_url": proxy.url, "heartbeat_ms": 200, "node_timeout_ms": 3000}
        owner = await start_node(node_factory, definitions=QUIZ, cluster=slow, node={"drain_timeout_s": 0})
        other = await start_node(
            node_factory, definitions=QUIZ, node={"drain_timeout_s": 0}, cluster={**slow, "redis_url": redis_server.url}
        )
        for node in (owner, other):
            await wait_members(ControlClient(node.http_url, node.token), 2)
        quiz_id = pick_quiz_id("race", lambda q: ring_owner(q, node_ids(2)) == owner.node_id)
        created = await ControlClient(other.http_url, other.token).create_quiz("q", quiz_id=quiz_id)
        urls = [other.ws_url]
        host = Participant(nursery, quiz_id, "host", lambda: urls)
        await host.join(other.ws_url, hostToken=created["hostToken"])
        ann = Participant(nursery, quiz_id, "Ann", lambda: urls)
        await ann.join(owner.ws_url, name="Ann")
        await host.call("start")
        await ann.answer("q0", 0)
        proxy.delay_s = 0.15
        await trio.sleep(1.0)

        replies: list[tuple[float, str]] = []

        async def resume_on_the_owner() -> None:
            # Another device of Ann's resuming on the draining owner.
            try:
                async with connect(owner.ws_url) as conn:
                    reply = await conn.join(quiz_id, resumeToken=ann.token)
            except (OSError, HandshakeError, ConnectionClosed, trio.TooSlowError):
                return  # the owner has closed its listener (or this connection): drained
            replies.append((clock(), reply["type"] if reply["type"] == "joined" else reply["payload"]["code"]))

        clock = Stopwatch()
        owner.signal(signal.SIGTERM)
        async with trio.open_nursery() as attempts:
            for _ in range(40):  # one every 75 ms, without waiting for the earlier ones
                attempts.start_soon(resume_on_the_owner)
                await trio.sleep(0.075)
        proxy.delay_s = 0.0
        replies.sort()
        print(f"\nresumes on the owner during its hand-over: {[(round(t, 2), k) for t, k in replies]}")
        assert await wait_exit(owner) == 0
        assert "quiz_ended" not in {k for _t, k in replies}, replies
        assert {k for _t, k in replies} <= {"joined", "server_busy"}, replies
        # The quiz did not end: Ann resumes on the other node with her score.
        urls[:] = [other.ws_url]
        joined = await ann.resume()
        assert joined["quiz"]["phase"] == "question" and joined["score"] == ann.score
        assert lease(r, quiz_id) == (other.node_id, 2)
        nursery.cancel_scope.cancel()
