"""Two cluster nodes on one PostgreSQL: a definition made over the API on one node is
listed, read and playable on the other (quizzes created through either node, owned by
either), and a change made on one is seen by the other within the catalog's cache time."""

from __future__ import annotations

import pytest
import trio

from quizd.catalog import CACHE_S
from quizd.client import ControlClient, connect
from tests.cluster.clusterkit import cluster_tables, node_ids, pick_quiz_id, ring_owner, wait_members
from tests.dataapi.datakit import api
from tests.nodekit import quiz_toml

pytestmark = pytest.mark.e2e


async def test_an_api_definition_made_on_one_node_plays_on_the_other(redis_server, pg_url, node_factory):
    tables = {**cluster_tables(redis_server.url), "storage": {"url": pg_url}}
    nodes = [
        node_factory(definitions={"filed": quiz_toml("filed", questions=1)}, node={"drain_timeout_s": 0}, **tables)
        for _ in range(2)
    ]
    controls = [ControlClient(n.http_url, n.token) for n in nodes]
    for control in controls:
        await wait_members(control, 2)

    body = {
        "id": "shared",
        "title": "Made on node 0",
        "countdown_ms": 0,
        "questions": [{"text": "Shared?", "choices": ["yes", "no"], "answer": 0}],
    }
    status, _, made = await api(nodes[0], "POST", "/api/definitions", body)
    assert status == 201 and made["version"] == 1, made
    status, _, got = await api(nodes[1], "GET", "/api/definitions/shared")
    assert status == 200 and got["source"] == "api" and got["title"] == "Made on node 0"
    assert [d["id"] for d in (await api(nodes[1], "GET", "/api/definitions"))[2]] == ["filed", "shared"]
    # Node 1 refuses the id too: it lives in the shared database.
    assert (await api(nodes[1], "POST", "/api/definitions", body))[2]["error"]["code"] == "definition_exists"

    # One quiz owned by each node, each created through the other: the owner reads the
    # definition from the database when it creates the quiz.
    ids = node_ids(2)
    for k, owner in enumerate(ids):
        quiz_id = pick_quiz_id(f"shared{k}", lambda q, owner=owner: ring_owner(q, ids) == owner)
        via = 1 - k
        created = await controls[via].create_quiz("shared", quiz_id=quiz_id)
        async with connect(nodes[k].ws_url) as host, connect(nodes[via].ws_url) as player:
            joined = await host.join(quiz_id, hostToken=created["hostToken"])
            assert joined["payload"]["quiz"]["title"] == "Made on node 0", joined
            assert (await player.join(quiz_id, name=f"Player{k}"))["type"] == "joined"
            assert (await host.request("start"))["type"] == "host_state"
            question = await player.expect("question", 10)
            assert question["payload"]["text"] == "Shared?"

    # A new version made on node 1 is what node 0 creates quizzes from, within the cache time.
    status, _, changed = await api(nodes[1], "PUT", "/api/definitions/shared", {**body, "title": "Changed on 1"})
    assert status == 200 and changed["version"] == 2
    await trio.sleep(CACHE_S + 0.2)
    quiz_id = pick_quiz_id("after", lambda q: ring_owner(q, ids) == ids[0])
    created = await controls[0].create_quiz("shared", quiz_id=quiz_id)
    async with connect(nodes[0].ws_url) as host:
        joined = await host.join(quiz_id, hostToken=created["hostToken"])
        assert joined["payload"]["quiz"]["title"] == "Changed on 1"
    # Deleted on node 0: node 1 creates nothing from it.
    assert (await api(nodes[0], "DELETE", "/api/definitions/shared"))[0] == 204
    await trio.sleep(CACHE_S + 0.2)
    status, _, refused = await api(nodes[1], "POST", "/api/quizzes", {"definitionId": "shared"})
    assert status == 404 and refused["error"]["code"] == "definition_not_found"
