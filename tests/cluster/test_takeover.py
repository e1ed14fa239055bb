"""kill -9 of a quiz's owner: the next owner restores it, players resume, no ack is lost."""

from __future__ import annotations

import os
import signal
import time
from contextlib import AsyncExitStack

from quizd.client import ControlClient, connect
from tests.cluster.clusterkit import cluster_tables, resume, wait_closed, wait_members
from tests.nodekit import quiz_toml

QUIZ = {"q": quiz_toml("q", questions=3, reveal_ms=200, time_limit_ms=60000)}


async def test_kill_9_of_the_owner_loses_no_acknowledged_answer(redis_server, node_factory):
    nodes = [node_factory(definitions=QUIZ, **cluster_tables(redis_server.url)) for _ in range(3)]
    controls = [ControlClient(n.http_url, n.token) for n in nodes]
    for control in controls:
        await wait_members(control, 3)
    created = await controls[0].create_quiz("q", quiz_id="takeover")
    owner_id = (await controls[0].quiz("takeover"))["node"]
    owner = next(n for n in nodes if n.node_id == owner_id)
    survivors = [n for n in nodes if n is not owner]
    names = ["Ann", "Bob", "Cat", "Dan"]
    async with AsyncExitStack() as stack:
        host = await stack.enter_async_context(connect(survivors[0].ws_url))
        await host.join("takeover", hostToken=created["hostToken"])
        players = {}
        for i, name in enumerate(names):
            conn = await stack.enter_async_context(connect(nodes[i % 3].ws_url))
            joined = await conn.join("takeover", name=name)
            players[name] = (conn, joined["payload"]["resumeToken"], nodes[i % 3])
        await host.request("start")
        acked = {}
        for name, (conn, _token, _node) in players.items():
            question = await conn.expect("question")
            if name != "Dan":  # Dan answers only after the takeover
                result = await conn.request("answer", {"questionId": question["payload"]["questionId"], "choice": 0})
                acked[name] = result["payload"]["score"]
        assert acked["Ann"] > 0

        killed_at = time.monotonic()
        os.kill(owner.process.pid, signal.SIGKILL)
        owner.process.wait()
        urls = [n.ws_url for n in survivors]
        resumed = {}
        for name, (conn, token, _node) in players.items():
            code = await wait_closed(conn)
            assert code in (1012, 1006), code
            new_conn, joined = await resume(stack, urls, "takeover", token)
            resumed[name] = (new_conn, joined["payload"])
        took = time.monotonic() - killed_at
        print(f"\nkill -9 to all players resumed: {took:.2f} s")
        for name, score in acked.items():
            assert resumed[name][1]["score"] == score, (name, resumed[name][1], score)
        # The same question is still open, with the answers that were acknowledged.
        dan = resumed["Dan"][1]
        assert dan["quiz"]["phase"] == "question" and dan["question"]["index"] == 0
        assert resumed["Ann"][1]["question"]["answered"] is True
        dan_result = await resumed["Dan"][0].request("answer", {"questionId": "q0", "choice": 0})
        assert dan_result["type"] == "answer_result" and dan_result["payload"]["correct"]
        host2, _ = await resume(stack, urls, "takeover", created["hostToken"], key="hostToken")
        await host2.request("end")
        ended = await resumed["Ann"][0].expect("quiz_ended")
        assert ended["payload"]["total"] == 4
