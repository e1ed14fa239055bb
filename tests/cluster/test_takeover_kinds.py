"""kill -9 of a quiz's owner mid-``multiple`` and then mid-``type_answer``: the next
owner restores every acknowledged answer of those kinds (its echo, its retry, its
points at the close)."""

from __future__ import annotations

import os
import signal
from contextlib import AsyncExitStack
from typing import Any

from quizd.client import ControlClient, QuizConnection, connect
from tests.cluster.clusterkit import cluster_tables, resume, wait_closed, wait_members
from tests.nodekit import RunningNode

QUIZ = {
    "kinds": """
id = "kinds"
title = "Kinds"
reveal = "on_close"
countdown_ms = 0
reveal_ms = 60000
time_limit_ms = 60000

[[questions]]
kind = "multiple"
text = "Primes?"
choices = ["2", "9", "11", "15"]
answers = [0, 2]

[[questions]]
kind = "type_answer"
text = "Capital of Australia?"
accepted = ["Canberra"]
typo_tolerance = true
"""
}


async def kill_owner(controls: list[ControlClient], nodes: list[RunningNode]) -> list[RunningNode]:
    """kill -9 the quiz's owner; the nodes still alive."""
    owner_id = None
    for control, node in zip(controls, nodes, strict=True):
        if node.process.poll() is None:
            owner_id = (await control.quiz("takeover"))["node"]
            break
    owner = next(n for n in nodes if n.node_id == owner_id)
    os.kill(owner.process.pid, signal.SIGKILL)
    owner.process.wait()
    return [n for n in nodes if n is not owner and n.process.poll() is None]


async def resume_all(
    stack: AsyncExitStack, players: dict[str, tuple[QuizConnection, str]], alive: list[RunningNode]
) -> dict[str, tuple[QuizConnection, dict[str, Any]]]:
    resumed = {}
    for name, (conn, token) in players.items():
        assert await wait_closed(conn) in (1012, 1006)
        new_conn, joined = await resume(stack, [n.ws_url for n in alive], "takeover", token)
        players[name] = (new_conn, token)
        resumed[name] = (new_conn, joined["payload"])
    return resumed


async def test_takeover_mid_multiple_and_mid_type_answer_keeps_acknowledged_answers(redis_server, node_factory):
    nodes = [node_factory(definitions=QUIZ, **cluster_tables(redis_server.url)) for _ in range(3)]
    controls = [ControlClient(n.http_url, n.token) for n in nodes]
    for control in controls:
        await wait_members(control, 3)
    created = await controls[0].create_quiz("kinds", quiz_id="takeover")
    async with AsyncExitStack() as stack:
        players: dict[str, tuple[QuizConnection, str]] = {}
        for i, name in enumerate(["Ann", "Bob", "Cat"]):
            conn = await stack.enter_async_context(connect(nodes[i].ws_url))
            joined = await conn.join("takeover", name=name)
            players[name] = (conn, joined["payload"]["resumeToken"])
        host = await stack.enter_async_context(connect(nodes[0].ws_url))
        await host.join("takeover", hostToken=created["hostToken"])
        await host.request("start")
        picks = {"Ann": [2, 0], "Bob": [0, 1]}  # Cat answers after the takeover
        for name, picked in picks.items():
            conn = players[name][0]
            await conn.expect("question")
            accepted = await conn.request("answer", {"questionId": "q0", "choices": picked})
            assert accepted["payload"] == {"questionId": "q0", "choices": picked}, accepted

        alive = await kill_owner(controls, nodes)
        resumed = await resume_all(stack, players, alive)
        for name, picked in picks.items():
            question = resumed[name][1]["question"]
            assert (question["kind"], question["answer"]) == ("multiple", {"choices": picked}), question
        conn = resumed["Ann"][0]
        again = await conn.request("answer", {"questionId": "q0", "choices": [0, 2]})
        assert again["payload"] == {"questionId": "q0", "choices": [2, 0]}  # a retry: the first echo
        late = await resumed["Cat"][0].request("answer", {"questionId": "q0", "choices": [0]})
        assert late["type"] == "answer_accepted", late
        host, _ = await resume(stack, [n.ws_url for n in alive], "takeover", created["hostToken"], key="hostToken")
        await host.request("next", {"questionIndex": 0})
        results = {name: await resumed[name][0].expect("answer_result") for name in ["Ann", "Bob", "Cat"]}
        assert (results["Ann"]["payload"]["correct"], results["Bob"]["payload"]["points"]) == (True, 0)
        assert results["Cat"]["payload"]["correct"] is False and results["Cat"]["payload"]["points"] > 0
        closed = next(m for m in resumed["Ann"][0].received if m["type"] == "question_closed")
        assert closed["payload"]["distribution"] == [3, 1, 1, 0]

        await host.request("next", {"questionIndex": 0})
        texts = {"Ann": " canbera", "Bob": "Sydney"}
        for name, text in texts.items():
            conn = resumed[name][0]
            await conn.expect("question")
            accepted = await conn.request("answer", {"questionId": "q1", "text": text})
            assert accepted["payload"] == {"questionId": "q1", "text": text}, accepted

        alive = await kill_owner(controls, nodes)
        resumed = await resume_all(stack, players, alive)
        for name, text in texts.items():
            question = resumed[name][1]["question"]
            assert (question["kind"], question["answer"]) == ("type_answer", {"text": text}), question
        host, _ = await resume(stack, [n.ws_url for n in alive], "takeover", created["hostToken"], key="hostToken")
        await host.request("next", {"questionIndex": 1})
        ann = await resumed["Ann"][0].expect("answer_result")
        bob = await resumed["Bob"][0].expect("answer_result")
        got = (ann["payload"]["correct"], ann["payload"]["text"], bob["payload"]["correct"])
        assert got == (True, " canbera", False)
        closed = next(m for m in resumed["Ann"][0].received if m["type"] == "question_closed")
        assert closed["payload"]["answers"] == [{"text": "canbera", "count": 1}, {"text": "sydney", "count": 1}]
        assert closed["payload"]["correctCount"] == 1
