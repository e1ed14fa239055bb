"""``[quizzes] max_quizzes``: a node refuses new quizzes beyond its cap with a 503
``server_busy`` that says when to retry, counts the refusal, and takes new quizzes again
once one has ended (operator contract v2, ``[quizzes]``)."""

from __future__ import annotations

import pytest

from quizd.client import ControlClient
from tests.e2e.httpkit import metric
from tests.nodekit import quiz_toml

pytestmark = pytest.mark.e2e


async def test_quizzes_beyond_the_cap_are_refused_until_one_ends(node_factory):
    node = node_factory(definitions={"a": quiz_toml("a")}, quizzes={"max_quizzes": 2})
    control = ControlClient(node.http_url, node.token)
    first = await control.create_quiz("a")
    await control.create_quiz("a")
    status, body = await control.request("POST", "/api/quizzes", {"definitionId": "a"})
    assert status == 503, body
    assert body["error"]["code"] == "server_busy"
    assert body["error"]["details"]["retryAfterMs"] > 0
    assert "max_quizzes" in body["error"]["message"]
    assert await metric(node, "quizd_quizzes_refused_total") == 1
    assert len(await control.quizzes()) == 2
    # An ended quiz (even while it lingers) no longer counts as live.
    await control.end(first["quizId"])
    status, body = await control.request("POST", "/api/quizzes", {"definitionId": "a"})
    assert status == 201, body
    status, _ = await control.request("POST", "/api/quizzes", {"definitionId": "a"})
    assert status == 503
    assert await metric(node, "quizd_quizzes_refused_total") == 2
