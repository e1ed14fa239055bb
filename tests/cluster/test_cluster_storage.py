"""A cluster keeps what happened in one PostgreSQL: every node reports every ended quiz.

Two real nodes, a real redis-server and the shared real PostgreSQL: a quiz that ended
on one node is reported by the other after the first was killed (``kill -9``), from
the database; a quiz whose owner is killed mid-quiz is taken over, ends on the other
node, and its answers and results are in the database once, none lost (the new owner
writes again all the restored quiz holds; every write is idempotent).
"""

from __future__ import annotations

import trio

from quizd.client import ControlClient
from tests.cluster.clusterkit import cluster_tables, node_ids, pick_quiz_id, play_to_the_end, ring_owner, wait_members
from tests.cluster.players import Participant
from tests.e2e.storagekit import play, rows, wait_results
from tests.nodekit import quiz_toml

QUIZ = {"q": quiz_toml("q", questions=3, reveal_ms=200, time_limit_ms=60000)}


def storage_tables(redis_url: str, pg_url: str, linger_s: float, flush_ms: int = 100) -> dict:
    return {
        **cluster_tables(redis_url),
        "storage": {"url": pg_url, "answer_flush_ms": flush_ms},
        "quizzes": {"results_dir": "", "linger_s": linger_s},
    }


async def test_a_quiz_ended_on_one_node_is_reported_by_the_other_after_a_kill(redis_server, node_factory, pg_url: str):
    nodes = [node_factory(definitions=QUIZ, **storage_tables(redis_server.url, pg_url, 0.5)) for _ in range(2)]
    controls = [ControlClient(n.http_url, n.token) for n in nodes]
    for control in controls:
        await wait_members(control, 2)
    ids = node_ids(2)
    quiz_id = pick_quiz_id("kept", lambda q: ring_owner(q, ids) == ids[0])
    await play(nodes[0], controls[0], players=2, questions=3, quiz_id=quiz_id)
    live = await wait_results(controls[0], quiz_id)
    # Lingered and retired: no node runs it any more.
    with trio.fail_after(15):
        while any(q["quizId"] == quiz_id for q in await controls[1].quizzes()):
            await trio.sleep(0.1)
    with trio.fail_after(10):
        while rows(pg_url)["counts"]["players"] < 2:
            await trio.sleep(0.1)
    nodes[0].kill()
    assert await controls[1].results(quiz_id) == live
    kept = rows(pg_url)
    assert kept["counts"] == {"quizzes": 1, "players": 2, "answers": 6, "question_results": 3}
    assert kept["quizzes"][quiz_id].node == ids[0]


async def test_a_takeover_mid_quiz_loses_and_duplicates_nothing(redis_server, node_factory, pg_url: str):
    # Batches every 5 s: the owner dies before it wrote anything, so what it acknowledged
    # reaches the database only through the survivor's replay of the restored quiz.
    nodes = [node_factory(definitions=QUIZ, **storage_tables(redis_server.url, pg_url, 30, 5000)) for _ in range(2)]
    controls = [ControlClient(n.http_url, n.token) for n in nodes]
    for control in controls:
        await wait_members(control, 2)
    ids = node_ids(2)
    quiz_id = pick_quiz_id("moved", lambda q: ring_owner(q, ids) == ids[0])
    created = await controls[1].create_quiz("q", quiz_id=quiz_id)
    urls = [nodes[1].ws_url]  # the players stay on the survivor's gateway
    async with trio.open_nursery() as nursery:
        host = Participant(nursery, quiz_id, "host", lambda: urls)
        await host.join(urls[0], hostToken=created["hostToken"])
        players = [Participant(nursery, quiz_id, name, lambda: urls) for name in ("Ann", "Bob", "Cat")]
        for p in players:
            await p.join(urls[0], name=p.name)
        await host.call("start")
        for p in players:
            await p.expect("question")
        for p in players:
            await p.answer("q0", 0)
        # The owner acknowledged those answers; it dies now, whatever its writer had not
        # flushed (kill -9, no drain).  The survivor takes over and the quiz plays on.
        nodes[0].kill()
        await play_to_the_end(host, players, 0, 3)
        for p in players:
            await p.until_ended()
        nursery.cancel_scope.cancel()
    results = await wait_results(controls[1], quiz_id)
    with trio.fail_after(20):
        while rows(pg_url)["counts"]["players"] < 3:
            await trio.sleep(0.1)
    kept = rows(pg_url)
    acked = sum(len(p.acks) for p in players)
    assert acked == 9
    assert kept["counts"] == {"quizzes": 1, "players": 3, "answers": acked, "question_results": 3}
    assert kept["quizzes"][quiz_id].node in ids  # whichever wrote it first; nothing twice
    assert (
        {name: p.score for name, p in kept["players"].items()}
        == {e["name"]: e["score"] for e in results["leaderboard"]}
        == {p.name: p.score for p in players}
    )
