"""A relayed join the gateway gave up on (``server_busy``) leaves no ghost player behind.

The gateway's join timeout cannot be atomic with the owner's decision across Redis: the
owner may accept a join after the gateway already answered ``server_busy``.  That late
acceptance must be undone (issue 12): the name is free again, the host's counts and
``close_when_all_answered`` do not wait for a player nobody is connected as.

Node 1 is the gateway, with its join timeout patched down to 0.3 s (started through
``python -c``); the quiz lives on node 0.  ``CLIENT PAUSE 1500 WRITE`` makes every Redis
write (the relayed join, the owner's group commit, its answer) wait for 1.5 s, so the
owner decides long after the gateway gave up.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from contextlib import AsyncExitStack
from typing import Any

import trio

from quizd.client import ControlClient, QuizConnection, connect
from tests.cluster.clusterkit import metric, node_ids, pick_quiz_id, ring_owner
from tests.nodekit import quiz_toml

QUIZ = {"q": quiz_toml("q", questions=2, close_when_all_answered=True)}
GATEWAY_JOIN_TIMEOUT_S = 0.3
PAUSE_MS = 1500


def patched(constants: dict[str, Any]) -> Sequence[str]:
    """``python -m quizd`` with ``module.NAME`` constants set first."""
    lines = []
    for dotted, value in constants.items():
        module, name = dotted.rsplit(".", 1)
        lines.append(f"import {module}; {module}.{name} = {value!r}")
    lines.append("from quizd.cli import main; raise SystemExit(main())")
    return [sys.executable, "-c", "\n".join(lines)]


async def wait_members(control: ControlClient, count: int) -> None:
    with trio.fail_after(15):
        while await metric(control, "quizd_cluster_members") < count:
            await trio.sleep(0.1)


async def host_state(host: QuizConnection, want: Any, timeout: float = 10.0) -> dict[str, Any]:
    """The first ``host_state`` payload for which ``want`` holds."""
    with trio.fail_after(timeout):
        while True:
            message = await host.expect("host_state", timeout)
            if want(message["payload"]):
                return message["payload"]


async def join_when_free(url: str, quiz_id: str, name: str, stack: AsyncExitStack) -> QuizConnection:
    """A new connection that joins as ``name``, retrying (for up to 10 s) while the name is taken."""
    for _ in range(50):
        conn = await stack.enter_async_context(connect(url))
        reply = await conn.join(quiz_id, name=name)
        if reply["type"] == "joined":
            return conn
        assert reply["payload"]["code"] == "name_taken", reply
        await conn.close()
        await trio.sleep(0.2)
    raise AssertionError(f"the name {name!r} stayed taken: a ghost player holds it")


async def test_a_join_accepted_after_the_gateway_gave_up_is_undone(redis_server, node_factory):
    tables = {"cluster": {"redis_url": redis_server.url, "heartbeat_ms": 200, "node_timeout_ms": 4000}}
    owner = node_factory(definitions=QUIZ, **tables)
    gateway = node_factory(
        definitions=QUIZ,
        command=patched({"quizd.gateway.session.JOIN_TIMEOUT_S": GATEWAY_JOIN_TIMEOUT_S}),
        **tables,
    )
    controls = [ControlClient(n.http_url, n.token) for n in (owner, gateway)]
    for control in controls:
        await wait_members(control, 2)
    quiz_id = pick_quiz_id("ghost", lambda q: ring_owner(q, node_ids(2)) == "test-node-0")
    created = await controls[0].create_quiz("q", quiz_id=quiz_id)
    r = redis_server.client()

    async with AsyncExitStack() as stack:
        host = await stack.enter_async_context(connect(owner.ws_url))
        assert (await host.join(quiz_id, hostToken=created["hostToken"]))["type"] == "joined"
        ann = await stack.enter_async_context(connect(owner.ws_url))
        assert (await ann.join(quiz_id, name="Ann"))["type"] == "joined"
        await host_state(host, lambda s: s["participants"] == 1 and s["connected"] == 1)

        # The owner decides the relayed join only after the gateway answered server_busy.
        late = await stack.enter_async_context(connect(gateway.ws_url))
        r.execute_command("CLIENT", "PAUSE", PAUSE_MS, "WRITE")
        busy = await late.join(quiz_id, name="Ghost")
        assert busy["type"] == "error" and busy["payload"]["code"] == "server_busy", busy
        await trio.sleep(PAUSE_MS / 1000 + 0.5)  # the owner has accepted it by now

        # The name is free again: a new player takes it (once the undo has gone round).
        ghost_name = await join_when_free(gateway.ws_url, quiz_id, "Ghost", stack)
        # The host counts Ann and the new "Ghost", never the abandoned join.
        await host_state(host, lambda s: s["participants"] == 2 and s["connected"] == 2)

        # close_when_all_answered: the question closes as soon as both real players answered.
        assert (await host.request("start"))["type"] != "error"
        question = await ann.expect("question")
        await ghost_name.expect("question")
        qid = question["payload"]["questionId"]
        for conn in (ann, ghost_name):
            reply = await conn.request("answer", {"questionId": qid, "choice": 0})
            assert reply["type"] == "answer_result", reply
        closed = await ann.expect("question_closed", timeout=5)  # the time limit is 20 s
        assert closed["payload"]["correctChoice"] == 0
        state = await host_state(host, lambda s: s["phase"] == "reveal")
        assert state["participants"] == 2 and state["connected"] == 2

        # The connection that got server_busy was never bound: it may join again.
        again = await late.join(quiz_id, name="Late")
        assert again["type"] == "joined", again
