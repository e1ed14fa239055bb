"""A rolling restart of every node during a live quiz: no acknowledged answer is lost.

Three nodes; each in turn gets SIGTERM while a question is open (some players answer
before, some during the drain), must exit 0, and is replaced by a fresh node (a new
node id) before the next one goes.  Players resume wherever they can each time; at
the end every player's final score is the score of their last acknowledged answer.
"""

from __future__ import annotations

import signal

import trio

from quizd.client import ControlClient
from tests.cluster.clusterkit import Stopwatch, all_of, cluster_tables, lease, start_node, wait_exit, wait_members
from tests.cluster.players import Participant
from tests.nodekit import quiz_toml

QUESTIONS = 4
QUIZ = {"q": quiz_toml("q", questions=QUESTIONS, reveal_ms=60000, time_limit_ms=60000)}


async def test_rolling_restart_of_every_node_keeps_every_ack(redis_server, node_factory):
    tables = cluster_tables(redis_server.url)
    live = [node_factory(definitions=QUIZ, **tables) for _ in range(3)]
    for node in live:
        await wait_members(ControlClient(node.http_url, node.token), 3)
    control = ControlClient(live[1].http_url, live[1].token)
    created = await control.create_quiz("q", quiz_id="rolling")

    def urls() -> list[str]:
        return [n.ws_url for n in live]

    total = Stopwatch()
    async with trio.open_nursery() as nursery:
        host = Participant(nursery, "rolling", "host", urls)
        await host.join(live[2].ws_url, hostToken=created["hostToken"])
        players = [Participant(nursery, "rolling", name, urls) for name in ("Ann", "Bob", "Cat", "Dan")]
        for i, p in enumerate(players):
            await p.join(live[i % 3].ws_url, name=p.name)
        await host.call("start")

        originals = list(live)
        for step in range(3):
            qid = f"q{step}"
            early, late = players[:2], players[2:]
            await all_of(*[lambda p=p, qid=qid, step=step: p.answer(qid, step % 4) for p in early])
            # The owner goes first whenever it is one of the nodes still to restart.
            owner_before = lease(redis_server.client(), "rolling")
            victim = next((n for n in originals if owner_before and n.node_id == owner_before[0]), originals[0])
            originals.remove(victim)
            clock = Stopwatch()
            live.remove(victim)
            victim.signal(signal.SIGTERM)
            # Answers during the drain: acknowledged by the draining owner or, after the
            # move, by the next one; either way they must survive.
            await all_of(*[lambda p=p, qid=qid, step=step: p.answer(qid, (step + 1) % 4) for p in late])
            code = await wait_exit(victim)
            assert code == 0, f"{victim.node_id} exited {code}"
            drained = clock()
            replacement = await start_node(node_factory, definitions=QUIZ, **tables)
            live.append(replacement)
            started = clock()
            await host.host_next(step, "reveal")
            await host.host_next(step, "question")
            print(
                f"\nstep {step}: {victim.node_id} (owner before: {owner_before}) drained and exited 0 in "
                f"{drained:.2f} s, {replacement.node_id} ready at {started:.2f} s, quiz at question "
                f"{host.question_index} on {lease(redis_server.client(), 'rolling')} at {clock():.2f} s"
            )
            for p in players:
                p.check_resumes()  # a resume never shows less than what was acknowledged before it

        last = QUESTIONS - 1
        await all_of(*[lambda p=p: p.answer(f"q{last}", last % 4) for p in players])
        await host.host_next(last, "reveal")
        await host.host_next(last, "ended")
        for p in players:
            ended = await p.until_ended()
            assert ended is None or ended["total"] == len(players)  # None: it ended while p was moving
        results = await ControlClient(live[-1].http_url, live[-1].token).results("rolling")
        scores = {e["name"]: e["score"] for e in results["leaderboard"]}
        busy = {p.name: len(p.busy_replies) for p in [host, *players] if p.busy_replies}
        print(
            f"rolling restart of 3 nodes: {total():.2f} s; closes per player: "
            f"{ {p.name: [int(c) for c in p.closes] for p in [host, *players]} }; "
            f"commands answered server_busy during a move: {busy or 'none'}"
        )
        assert scores == {p.name: p.score for p in players}, (scores, {p.name: p.acks for p in players})
        for p in players:
            assert sorted(p.acks) == [f"q{i}" for i in range(QUESTIONS)]
            assert all(code in (1012, 4004) for code in p.closes), (p.name, p.closes)
            assert 1012 in p.closes and p.resumes, (p.name, p.closes)  # every player was moved
        assert len(results["questions"]) == QUESTIONS
        nursery.cancel_scope.cancel()
