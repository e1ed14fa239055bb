"""A client that stops reading cannot stretch its answer window (issue "Hold under hostile load").

On a real node: a raw client with a tiny receive buffer piles up replies it never reads,
so the ``question`` frame waits behind them in the node's send queue.  It reads late and
answers at once.  Its points are at best those of an answer timed from the opening plus
``HANDOFF_SLACK_S``, and the question closes for everyone within limit + slack.
"""

from __future__ import annotations

import time
from contextlib import AsyncExitStack

import pytest
import trio

from quizd.client import ControlClient, connect
from quizd.game.handoffs import HANDOFF_SLACK_S
from quizd.game.scoring import time_points
from tests.e2e.clientkit import BacklogClient
from tests.nodekit import quiz_toml

pytestmark = pytest.mark.e2e

LIMIT_MS = 5000
READ_LATE_S = 3.0
SLACK_MS = int(HANDOFF_SLACK_S * 1000)
DEFS = {"q": quiz_toml("q", questions=1, reveal_ms=200, time_limit_ms=LIMIT_MS)}


async def test_a_reader_that_stalls_before_the_question_cannot_stretch_its_window(node_factory):
    node = node_factory(
        definitions=DEFS,
        # The stalled client's backlog must wait in the node's queue, not get it dropped.
        websocket={"send_queue_bytes": 64 * 1024 * 1024},
        limits={"messages_per_second": 100000, "burst": 100000},
    )
    created = await ControlClient(node.http_url, node.token).create_quiz("q")
    quiz_id, host_token = created["quizId"], created["hostToken"]
    async with AsyncExitStack() as stack:
        host = await stack.enter_async_context(connect(node.ws_url, message_queue_size=64))
        assert (await host.join(quiz_id, hostToken=host_token))["type"] == "joined"
        ann = await stack.enter_async_context(connect(node.ws_url, message_queue_size=64))
        assert (await ann.join(quiz_id, name="Ann-" + "x" * 20))["type"] == "joined"

        slow = await BacklogClient.connect(node.ws_address, rcvbuf=4096, mss=600)
        stack.push_async_callback(slow.aclose)
        await slow.send_json("join", {"quizId": quiz_id, "name": "Slow-" + "y" * 19}, 1)
        assert (await slow.recv_whole())["type"] == "joined"
        # From now on it does not read: about 1 MB of leaderboard replies pile up,
        # far more than the kernel's buffers hold, so the question will wait behind them.
        await slow.pile_up_replies(10)
        await trio.sleep(0.5)  # let the node read and answer them all

        assert (await host.request("start"))["type"] == "host_state"
        question = (await ann.expect("question"))["payload"]
        started_ms = question["startedAt"]
        assert (await ann.request("answer", {"questionId": question["questionId"], "choice": 0}))[
            "type"
        ] == "answer_result"

        # The stalled client comes back late, reads its backlog and answers at once.
        await trio.sleep(max(0.0, started_ms / 1000 + READ_LATE_S - time.time()))
        with trio.fail_after(10):
            while True:
                message = await slow.recv_whole()
                if message["type"] == "question":
                    break
        sent_ms = time.time() * 1000
        await slow.send_json("answer", {"questionId": question["questionId"], "choice": 0}, "late")
        with trio.fail_after(10):
            while True:
                message = await slow.recv_whole()
                if message["type"] in ("answer_result", "error") and message.get("re") == "late":
                    break
        assert message["type"] == "answer_result", message
        # Timed from the opening plus the slack at the latest: never from its own late read.
        best_elapsed = round(sent_ms - started_ms - SLACK_MS) - 20  # 20 ms for clock rounding
        assert best_elapsed >= 1000, "the client did not read late enough to test anything"
        assert message["payload"]["points"] <= time_points(1000, LIMIT_MS, best_elapsed)

        # Nobody is held beyond limit + slack by the late reader.
        await ann.expect("question_closed", timeout=LIMIT_MS / 1000 + 5)
        closed_after_ms = time.time() * 1000 - started_ms
        assert closed_after_ms <= LIMIT_MS + SLACK_MS + 500, closed_after_ms
