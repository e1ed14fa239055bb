"""A kit for the storage tests: play a quiz over the wire, then read the rows the node wrote."""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

import trio
from sqlalchemy import func, select

from quizd.client import ControlClient, connect
from quizd.config.model import StorageSection
from quizd.store import schema
from quizd.store.engine import engine_from_settings


def rows(url: str) -> dict[str, Any]:
    """What the database holds, table by table (counts) and the quizzes' rows."""
    engine = engine_from_settings(StorageSection(url=url), None)
    try:
        with engine.connect() as c:
            counts = {
                t.name: c.execute(select(func.count()).select_from(t)).scalar_one()
                for t in (schema.quizzes, schema.players, schema.answers, schema.question_results)
            }
            quizzes = {r.quiz_id: r for r in c.execute(select(schema.quizzes))}
            players = {r.name: r for r in c.execute(select(schema.players))}
        return {"counts": counts, "quizzes": quizzes, "players": players}
    finally:
        engine.dispose()


async def play(
    node: Any, control: ControlClient, players: int, questions: int, between: Any = None, quiz_id: str | None = None
) -> tuple[str, list[int]]:
    """A quiz played to its end; player k answers choice k % 4 (player 0 is always right on
    q0).  ``between(index)`` runs after each question's answers.  The acknowledged answers
    per player are returned with the quiz id."""
    created = await control.create_quiz("q", quiz_id=quiz_id)
    quiz_id = created["quizId"]
    acked = [0] * players
    async with AsyncExitStack() as stack:
        host = await stack.enter_async_context(connect(node.ws_url))
        assert (await host.join(quiz_id, hostToken=created["hostToken"]))["type"] == "joined"
        conns = []
        for k in range(players):
            conn = await stack.enter_async_context(connect(node.ws_url))
            conns.append(conn)
            assert (await conn.join(quiz_id, name=f"P{k}"))["type"] == "joined"
        assert (await host.request("start"))["type"] == "host_state"
        for index in range(questions):
            for k, conn in enumerate(conns):
                question = await conn.expect("question")
                result = await conn.request(
                    "answer", {"questionId": question["payload"]["questionId"], "choice": (index + k) % 4}
                )
                assert result["type"] == "answer_result", result
                acked[k] += 1
            if between is not None:
                await between(index)
            assert (await host.request("next", {"questionIndex": index}))["type"] != "error"
            for conn in conns:
                await conn.expect("question_closed")
        for conn in conns:
            ended = await conn.expect("quiz_ended")
            assert "you" in ended["payload"]
    return quiz_id, acked


async def wait_results(control: ControlClient, quiz_id: str, timeout: float = 15) -> dict[str, Any]:
    with trio.fail_after(timeout):
        while True:
            status, body = await control.request("GET", f"/api/quizzes/{quiz_id}/results")
            if status == 200 and body["phase"] == "ended":
                return body
            await trio.sleep(0.2)
