"""Names (v2) in a cluster: a join without a name reaches the quiz's owner through
another node's gateway (the relay carries "no name") and gets a generated name there;
the owner's deny-list refuses a disguised name joined the same way."""

from __future__ import annotations

from pathlib import Path

from quizd.client import ControlClient, connect
from quizd.game.namegen import shipped_words
from tests.cluster.clusterkit import node_ids, pick_quiz_id, ring_owner, wait_members
from tests.nodekit import quiz_toml

QUIZ = {"q": quiz_toml("q", questions=2)}


async def test_a_relayed_join_gets_a_generated_name_and_denied_names_are_refused(
    redis_server, node_factory, tmp_path: Path
) -> None:
    denylist = tmp_path / "deny.txt"
    denylist.write_text("bad\n")
    tables = {
        "cluster": {"redis_url": redis_server.url, "heartbeat_ms": 200, "node_timeout_ms": 2000},
        "quizzes": {"names": "both", "name_denylist": str(denylist)},
    }
    nodes = [node_factory(definitions=QUIZ, node={"drain_timeout_s": 0}, **tables) for _ in range(2)]
    controls = [ControlClient(n.http_url, n.token) for n in nodes]
    for control in controls:
        await wait_members(control, 2)
    quiz_id = pick_quiz_id("names", lambda q: ring_owner(q, node_ids(2)) == "test-node-0")
    await controls[0].create_quiz("q", quiz_id=quiz_id)

    async with connect(nodes[1].ws_url) as conn:  # a gateway that relays to the owner
        joined = await conn.join(quiz_id)
    assert joined["type"] == "joined", joined
    adjective, animal = joined["payload"]["name"].split(" ")
    assert adjective in shipped_words().adjectives and animal in shipped_words().animals

    async with connect(nodes[1].ws_url) as conn:
        refused = await conn.join(quiz_id, name="8.4.D b4d")
    assert refused["payload"]["code"] == "name_invalid", refused
    assert refused["payload"]["details"] == {"reason": "denied"}
