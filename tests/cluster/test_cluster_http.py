"""The HTTP control plane works the same from every node of a cluster.

POST /api/quizzes on a node that does not own the quiz creates it on the ring's owner;
GET /api/quizzes and /api/quizzes/{id} from any node report that owner in ``node``;
results and end work from any node (forwarded to the owner).
"""

from __future__ import annotations

import trio

from quizd.client import ControlClient, HttpError
from tests.cluster.clusterkit import cluster_tables, lease, node_ids, pick_quiz_id, ring_owner, wait_members
from tests.cluster.players import Participant
from tests.nodekit import quiz_toml

QUIZ = {"q": quiz_toml("q", questions=2, reveal_ms=60000, time_limit_ms=60000)}


async def http_error(call) -> tuple[int, str]:
    try:
        await call
    except HttpError as err:
        return err.status, err.body["error"]["code"]
    raise AssertionError("expected an HTTP error")


async def test_the_http_api_answers_the_same_from_every_node(redis_server, node_factory):
    nodes = [
        node_factory(definitions=QUIZ, node={"drain_timeout_s": 0}, **cluster_tables(redis_server.url))
        for _ in range(3)
    ]
    controls = [ControlClient(n.http_url, n.token) for n in nodes]
    for control in controls:
        await wait_members(control, 3)
    ids = node_ids(3)
    r = redis_server.client()

    # One quiz per owner, each created through a node that does not own it.
    quizzes = {}
    for k, owner in enumerate(ids):
        quiz_id = pick_quiz_id(f"http{k}", lambda q, owner=owner: ring_owner(q, ids) == owner)
        via = (k + 1) % 3
        created = await controls[via].create_quiz("q", quiz_id=quiz_id)
        assert created["quizId"] == quiz_id and created["hostToken"]
        assert lease(r, quiz_id) == (owner, 1), (quiz_id, owner, lease(r, quiz_id))
        quizzes[quiz_id] = (owner, created["hostToken"])
    # A generated id works through any node too.
    generated = await controls[0].create_quiz("q")
    quizzes[generated["quizId"]] = (ring_owner(generated["quizId"], ids), generated["hostToken"])
    assert lease(r, generated["quizId"])[0] == quizzes[generated["quizId"]][0]

    for control in controls:
        listed = {q["quizId"]: q for q in await control.quizzes()}
        assert set(listed) == set(quizzes), listed
        for quiz_id, (owner, _token) in quizzes.items():
            assert listed[quiz_id]["node"] == owner
            assert listed[quiz_id]["phase"] == "lobby" and listed[quiz_id]["definitionId"] == "q"
            one = await control.quiz(quiz_id)
            assert one["node"] == owner and one["phase"] == "lobby" and one["questionIndex"] is None, one
        assert await http_error(control.quiz("nope")) == (404, "quiz_not_found")
        assert await http_error(control.results("nope")) == (404, "quiz_not_found")
        assert await http_error(control.end("nope")) == (404, "quiz_not_found")
    # The same id again, through the owner or not: 409 everywhere.
    first = next(iter(quizzes))
    for control in controls:
        assert await http_error(control.create_quiz("q", quiz_id=first)) == (409, "quiz_exists")
    assert await http_error(controls[1].create_quiz("nope")) == (404, "definition_not_found")

    # Play the first quiz (owned by test-node-0) with players on the other nodes.
    owner, host_token = quizzes[first]
    assert owner == "test-node-0"
    for control in controls[1:]:
        assert await http_error(control.results(first)) == (404, "results_not_ready")
    async with trio.open_nursery() as nursery:
        urls = [n.ws_url for n in nodes]
        host = Participant(nursery, first, "host", lambda: urls)
        await host.join(nodes[1].ws_url, hostToken=host_token)
        ann, bob = Participant(nursery, first, "Ann", lambda: urls), Participant(nursery, first, "Bob", lambda: urls)
        await ann.join(nodes[1].ws_url, name="Ann")
        await bob.join(nodes[2].ws_url, name="Bob")
        for control in controls:
            assert (await control.quiz(first))["participants"] == 2
        await host.call("start")
        await ann.answer("q0", 0)
        await bob.answer("q0", 1)
        await host.host_next(0, "reveal")
        seen = [await control.results(first) for control in controls]
        assert all(s == seen[0] for s in seen), seen
        assert [e["name"] for e in seen[0]["leaderboard"]] == ["Ann", "Bob"]
        assert len(seen[0]["questions"]) == 1 and seen[0]["phase"] == "reveal"
        for control in controls:
            one = await control.quiz(first)
            assert one["phase"] == "reveal" and one["questionIndex"] == 0 and one["node"] == owner

        # End it from a node that does not own it; the players hear it.
        assert await controls[2].end(first) == {"quizId": first, "phase": "ended"}
        for p in (ann, bob):
            ended = await p.expect("quiz_ended")
            assert ended["payload"]["total"] == 2
            assert int(await p.wait_closed()) == 4004
        nursery.cancel_scope.cancel()
    for control in controls:
        assert (await control.quiz(first))["phase"] == "ended"
        results = await control.results(first)
        assert results["phase"] == "ended" and [e["name"] for e in results["leaderboard"]] == ["Ann", "Bob"]
        assert await control.end(first) == {"quizId": first, "phase": "ended"}  # again: still 200

    # A quiz in its lobby, ended through a node that does not own it.
    second = list(quizzes)[1]
    owner2 = quizzes[second][0]
    via = next(c for c, n in zip(controls, nodes, strict=True) if n.node_id != owner2)
    assert (await via.end(second))["phase"] == "ended"
    for control in controls:
        listed = {q["quizId"]: q for q in await control.quizzes()}
        assert listed[second]["phase"] == "ended" and listed[second]["node"] == owner2
        assert listed[first]["phase"] == "ended"
