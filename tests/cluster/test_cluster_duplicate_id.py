"""Two real processes configured with the same ``[node] id`` against one Redis.

The second must not join the ring: it logs the clash at error and ``serve`` exits 1
with a clear message, while the first keeps its place and its quizzes' leases.
"""

from __future__ import annotations

import json

from quizd.client import ControlClient
from tests.cluster.clusterkit import cluster_tables, lease, wait_members
from tests.nodekit import RunningNode, quiz_toml, write_toml

QUIZ = {"q": quiz_toml("q", questions=2)}


async def test_a_second_process_with_the_same_node_id_is_refused(redis_server, node_factory, tmp_path):
    tables = cluster_tables(redis_server.url)
    first = node_factory(definitions=QUIZ, **tables)
    control = ControlClient(first.http_url, first.token)
    await wait_members(control, 1)
    created = await control.create_quiz("q", quiz_id="dup-quiz")
    client = redis_server.client()  # closed when the fixture stops the server
    held = client.get("quizd:lease:dup-quiz")
    assert lease(client, "dup-quiz")[0] == first.node_id

    # The same config but another process: same id, same Redis.
    config = tmp_path / "second.toml"
    base = json.loads(json.dumps({"cluster": tables["cluster"]}))
    base["node"] = {"id": first.node_id}
    base["websocket"] = {"host": "127.0.0.1", "port": 0}
    base["http"] = {"host": "127.0.0.1", "port": 0}
    base["auth"] = {"admin_token": first.token}
    base["quizzes"] = {"definitions_dir": str(first.tmp / "quizzes"), "results_dir": str(tmp_path / "r2")}
    base["logging"] = {"level": "info", "format": "json"}
    second = RunningNode(write_toml(config, base), tmp_path / "second", None)
    (tmp_path / "second").mkdir()
    second.launch()
    try:
        assert second.wait(30) == 1
    finally:
        second.kill()
    log = second.log()
    assert "already runs as node id" in log
    errors = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert any(
        e.get("level") in ("error", "ERROR") and "refusing to join" in e.get("message", e.get("msg", ""))
        for e in errors
    ), log

    # The first process is untouched: one member, the same lease token, still serving.
    assert client.zrange("quizd:members", 0, -1) == [first.node_id.encode()]
    assert client.get("quizd:lease:dup-quiz") == held
    status, quizzes = await control.request("GET", "/api/quizzes")
    assert status == 200 and [q["quizId"] for q in quizzes] == [created["quizId"]]
