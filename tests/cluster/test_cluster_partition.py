"""One node cut off from Redis (through a TCP proxy the test controls, or frozen with
SIGSTOP) while it owns a quiz.

The other node sees the owner gone after ``node_timeout_ms``, takes the quiz over on a
new epoch, and its players resume there.  The cut-off node cannot acknowledge anything
any more (every acknowledgement waits for a fenced write).  It stops its copy of the
quiz, either on its own (without Redis for longer than the lease) or because Redis
refuses (fences) the write it attempts when it gets through again; its own players are
sent to resume (1012), and the quiz state in Redis is the new owner's.
"""

from __future__ import annotations

import signal
import subprocess

import pytest
import trio

from quizd.client import ControlClient
from tests.cluster.clusterkit import (
    Stopwatch,
    cluster_tables,
    lease,
    log_has,
    metric,
    node_ids,
    pick_quiz_id,
    ring_owner,
    snapshot_meta,
    snapshot_participants,
    start_node,
    wait_exit,
    wait_lease,
    wait_members,
)
from tests.cluster.players import Closed, Participant
from tests.nodekit import quiz_toml
from tests.tcp_proxy import TcpProxy

QUIZ = {"q": quiz_toml("q", questions=2, reveal_ms=60000, time_limit_ms=60000)}
FENCED = ("quizd_cluster_snapshot_writes_total", 'result="fenced"')
# Longer than [leaderboard] interval_ms (500): after it the old owner's actor has no timer
# due (questions last 60 s), so nothing but the players or the cluster makes it write.
QUIET_S = 0.8
LOST_LOGS = ("lease lost", "quiz lost here", "cut off from Redis beyond the lease")


async def partitioned_setup(redis_server, node_factory, nursery: trio.Nursery, prefix: str, **old_tables):
    """node 0 reaches Redis through a proxy and owns the quiz; the host, Ann and Bob are on
    node 1, Cat on node 0."""
    proxy = TcpProxy(redis_server.port)
    await nursery.start(proxy.run)
    # In a worker thread: the proxy runs on this event loop and must serve the start-up.
    # (drain_timeout_s = 0: nothing here tests the drain window, and teardown is quicker.)
    old_tables.setdefault("node", {"drain_timeout_s": 0})
    old = await start_node(node_factory, definitions=QUIZ, **cluster_tables(proxy.url), **old_tables)
    new = await start_node(
        node_factory, definitions=QUIZ, node={"drain_timeout_s": 0}, **cluster_tables(redis_server.url)
    )
    for node in (old, new):
        await wait_members(ControlClient(node.http_url, node.token), 2)
    quiz_id = pick_quiz_id(prefix, lambda q: ring_owner(q, node_ids(2)) == old.node_id)
    created = await ControlClient(new.http_url, new.token).create_quiz("q", quiz_id=quiz_id)
    assert lease(redis_server.client(), quiz_id) == (old.node_id, 1)
    urls = [new.ws_url]
    host = Participant(nursery, quiz_id, "host", lambda: urls)
    await host.join(new.ws_url, hostToken=created["hostToken"])
    ann, bob, cat = (Participant(nursery, quiz_id, name, lambda: urls) for name in ("Ann", "Bob", "Cat"))
    await ann.join(new.ws_url, name="Ann")
    await bob.join(new.ws_url, name="Bob")
    await cat.join(old.ws_url, name="Cat")
    await host.call("start")
    for p in (ann, bob, cat):
        await p.expect("question")
    return proxy, old, new, quiz_id, urls, host, ann, bob, cat


@pytest.mark.parametrize(
    ("mode", "cat_answers"),
    [("reset", False), ("blackhole", False), ("blackhole", True)],
    ids=["reset-idle", "blackhole-idle", "blackhole-answer-during-cut"],
)
async def test_a_partitioned_owner_is_replaced_and_fenced(redis_server, node_factory, mode, cat_answers):
    r = redis_server.client()
    async with trio.open_nursery() as nursery:
        proxy, old, new, quiz_id, urls, host, ann, bob, cat = await partitioned_setup(
            redis_server, node_factory, nursery, f"cut-{mode}"
        )
        old_control = ControlClient(old.http_url, old.token)
        ann_score = (await ann.answer("q0", 0))["score"]
        assert ann_score > 0
        fenced_before = await metric(old_control, *FENCED)
        await trio.sleep(QUIET_S)  # the throttled leaderboard/host_state broadcasts are out

        clock = Stopwatch()
        proxy.cut(mode)
        cat_outcome: list[object] = []

        async def cat_answers_during_the_cut() -> None:
            # The old owner cannot make this durable: no ack may come, only a 1012.
            try:
                reply = await cat.call("answer", {"questionId": "q0", "choice": 3}, timeout=15)
                cat_outcome.append(reply)
            except Closed as closed:
                cat_outcome.append(closed.code)
                cat_outcome.append(clock())

        if cat_answers:
            nursery.start_soon(cat_answers_during_the_cut)
        with trio.fail_after(10):
            codes = [await p.wait_closed() for p in (host, ann, bob)]
        gone = clock()
        assert [int(c) for c in codes] == [1012] * 3, codes
        for p in (host, ann, bob):
            await p.resume()
        resumed = clock()
        taken = lease(r, quiz_id)
        print(
            f"\n[{mode}] cut -> players on the other node closed (1012) {gone:.2f} s, resumed on the new "
            f"owner {resumed:.2f} s; lease {taken}"
        )
        assert taken == (new.node_id, 2)
        assert ann.joined["score"] == ann_score and ann.joined["question"]["answered"] is True
        bob_ack = await bob.answer("q0", 1)  # acknowledged by the new owner, after the cut
        assert not bob_ack["correct"]

        if cat_answers:
            with trio.fail_after(10):
                while not cat_outcome:
                    await trio.sleep(0.05)
            print(f"[{mode}] Cat's answer on the cut-off owner: {cat_outcome}")
            assert cat_outcome[0] == 1012, f"the cut-off owner answered: {cat_outcome}"
            assert cat.acks == {}
        stored = snapshot_participants(r, quiz_id)
        assert "q0" not in stored["Cat"]["answers"], stored["Cat"]  # nothing of the old owner after the cut
        assert stored["Bob"]["answers"]["q0"][0] == 1 and stored["Ann"]["score"] == ann_score
        assert snapshot_meta(r, quiz_id)["answered"] == 2

        healed_at = clock()
        proxy.heal()
        urls.append(old.ws_url)
        if not cat_answers:
            # The old owner learns its lease is gone: its stale write is refused and its
            # own players are sent to the new owner.
            code = await cat.wait_closed(timeout=10)
            assert int(code) == 1012
            print(f"[{mode}] healed at {healed_at:.2f} s; Cat (on the old owner) closed 1012 at {clock():.2f} s")
        fenced = await metric(old_control, *FENCED) - fenced_before
        lost_log = log_has(old, *LOST_LOGS)
        print(f"[{mode}] old owner: fenced writes {fenced:.0f}, lease-lost log {lost_log}")
        # It stopped its copy: refused by Redis (fenced), or on its own, knowing the lease is gone.
        assert fenced > 0 or lost_log
        # Whatever the old owner tried, the state in Redis is still the new owner's.
        stored = snapshot_participants(r, quiz_id)
        assert stored["Bob"]["answers"]["q0"][0] == 1 and "q0" not in stored["Cat"]["answers"]
        holder = await wait_lease(r, quiz_id, lambda v: v is not None and v[1] >= 2)
        assert holder[1] >= 2

        # Cat resumes (on whichever node owns the quiz now) and finds no trace of the cut.
        joined = await cat.resume()
        assert joined["score"] == 0 and joined["question"]["answered"] is False, joined
        await cat.answer("q0", 0)
        for index in range(2):
            for p in (ann, bob, cat):
                if f"q{index}" not in p.acks:
                    await p.answer(f"q{index}", index % 4)
            await host.host_next(index, "reveal")
            await host.host_next(index, "question" if index == 0 else "ended")
        for p in (ann, bob, cat):
            ended = await p.until_ended()
            assert ended is None or ended["total"] == 3  # None: it ended while p was moving
            p.check_resumes()
        results = await ControlClient(new.http_url, new.token).results(quiz_id)
        scores = {e["name"]: e["score"] for e in results["leaderboard"]}
        assert scores == {p.name: p.score for p in (ann, bob, cat)}, (scores, [p.acks for p in (ann, bob, cat)])
        nursery.cancel_scope.cancel()


async def test_idle_players_of_a_partitioned_owner_are_sent_away_without_waiting_for_the_heal(
    redis_server, node_factory
):
    """A cut-off node must stop a quiz whose lease it cannot have any more even if the quiz
    has nothing to write: its local players would otherwise sit on a frozen copy."""
    async with trio.open_nursery() as nursery:
        proxy, _old, new, quiz_id, _urls, _host, _ann, _bob, cat = await partitioned_setup(
            redis_server, node_factory, nursery, "zombie"
        )
        await trio.sleep(QUIET_S)
        clock = Stopwatch()
        proxy.cut("reset")
        await wait_lease(redis_server.client(), quiz_id, lambda v: v == (new.node_id, 2))
        taken = clock()
        # The new owner runs the quiz now; Cat, still on the cut-off node, must be sent there
        # (1012) within about a lease after the old one's last renewal, not left on a stale copy.
        try:
            code = await cat.wait_closed(timeout=3.0)
        except trio.TooSlowError:
            code = None
        waited = clock()
        proxy.heal()  # (also lets the old node stop promptly at teardown)
        if code is None:
            await cat.wait_closed(timeout=10)
        print(f"\ncut; taken over at {taken:.2f} s; Cat closed {code} by {waited:.2f} s; healed then")
        nursery.cancel_scope.cancel()
    assert code is not None, (
        f"Cat still connected to the cut-off owner {waited:.1f} s after the cut "
        f"(the quiz was taken over at {taken:.1f} s)"
    )
    assert int(code) == 1012


async def test_sigterm_of_an_owner_cut_off_from_redis_still_drains_promptly(redis_server, node_factory):
    """The hand-over of a drain cannot be made durable (no Redis): the actor stops with
    QuizLost, and the drain must go on at once instead of waiting for a hand-over reply
    that never comes (at 27b59b7 it waited the full 10 s)."""
    async with trio.open_nursery() as nursery:
        # drain_timeout_s = 0: the hand-over starts at once, while the lease is still valid.
        proxy, old, _new, _quiz_id, _urls, _host, _ann, _bob, cat = await partitioned_setup(
            redis_server, node_factory, nursery, "cutdrain", node={"drain_timeout_s": 0}
        )
        await trio.sleep(QUIET_S)
        clock = Stopwatch()
        proxy.cut("reset")
        old.signal(signal.SIGTERM)
        try:
            code = await wait_exit(old, timeout=5)
        except subprocess.TimeoutExpired:
            code = None
        exited = clock()
        cat_code = None
        if code is not None:
            cat_code = await cat.wait_closed(timeout=5)
        print(f"\nSIGTERM to a cut-off owner: exit {code} after {exited:.2f} s; Cat closed {cat_code}")
        proxy.heal()
        nursery.cancel_scope.cancel()
    assert code == 0, f"the drain did not finish within 5 s ({exited:.1f} s; drain_timeout_s = 0)"
    assert int(cat_code) == 1012  # resume elsewhere, not 4004


async def test_an_owner_paused_past_its_lease_is_fenced_when_it_wakes(redis_server, node_factory):
    """SIGSTOP (a long GC pause, a frozen VM): the others take the quiz over; when the old
    owner wakes up it still believes it runs the quiz, and Redis must refuse its writes."""
    r = redis_server.client()
    async with trio.open_nursery() as nursery:
        _proxy, old, new, quiz_id, urls, host, ann, bob, cat = await partitioned_setup(
            redis_server, node_factory, nursery, "pause"
        )
        old_control = ControlClient(old.http_url, old.token)
        ann_score = (await ann.answer("q0", 0))["score"]
        await trio.sleep(QUIET_S)
        fenced_before = await metric(old_control, *FENCED)
        clock = Stopwatch()
        old.signal(signal.SIGSTOP)
        try:
            taken = await wait_lease(r, quiz_id, lambda v: v == (new.node_id, 2))
            took = clock()
            for p in (host, ann, bob):
                assert int(await p.wait_closed()) == 1012
                await p.resume()
            bob_ack = await bob.answer("q0", 1)  # the new owner acknowledges
            # Cat's answer waits in the frozen node's socket buffer.
            cat_reply: list[object] = []

            async def cat_answers() -> None:
                try:
                    cat_reply.append(await cat.call("answer", {"questionId": "q0", "choice": 0}, timeout=15))
                except Closed as closed:
                    cat_reply.append(int(closed.code))

            nursery.start_soon(cat_answers)
            await trio.sleep(0.2)
        finally:
            old.signal(signal.SIGCONT)
        woke = clock()
        with trio.fail_after(10):
            while not cat_reply:
                await trio.sleep(0.05)
        fenced = await metric(old_control, *FENCED) - fenced_before
        print(
            f"\nSIGSTOP; taken over {taken} at {took:.2f} s; SIGCONT at {woke:.2f} s; Cat's answer to the "
            f"old owner got {cat_reply}; fenced writes refused {fenced:.0f}"
        )
        assert cat_reply == [1012], cat_reply  # no ack from the stale owner, sent to resume
        assert fenced > 0  # the stale owner did try to write, and Redis refused
        stored = snapshot_participants(r, quiz_id)
        assert "q0" not in stored["Cat"]["answers"] and stored["Bob"]["answers"]["q0"][0] == 1
        assert stored["Ann"]["score"] == ann_score and not bob_ack["correct"]
        urls.append(old.ws_url)
        joined = await cat.resume()
        assert joined["question"]["answered"] is False and joined["score"] == 0
        await cat.answer("q0", 0)
        for index in range(2):
            for p in (ann, bob, cat):
                if f"q{index}" not in p.acks:
                    await p.answer(f"q{index}", index % 4)
            await host.host_next(index, "reveal")
            await host.host_next(index, "question" if index == 0 else "ended")
        results = await ControlClient(new.http_url, new.token).results(quiz_id)
        scores = {e["name"]: e["score"] for e in results["leaderboard"]}
        assert scores == {p.name: p.score for p in (ann, bob, cat)}
        nursery.cancel_scope.cancel()
