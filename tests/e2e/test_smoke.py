"""A whole quiz, host and two players, against a real node over real sockets."""

from __future__ import annotations

from quizd.client import ControlClient, connect


async def test_a_quiz_from_create_to_results(node_factory):
    from tests.nodekit import quiz_toml

    node = node_factory(definitions={"q": quiz_toml("q", questions=2, reveal_ms=200)})
    control = ControlClient(node.http_url, node.token)
    created = await control.create_quiz("q")
    quiz_id = created["quizId"]
    async with connect(node.ws_url) as host, connect(node.ws_url) as ann, connect(node.ws_url) as bob:
        assert (await host.join(quiz_id, hostToken=created["hostToken"]))["type"] == "joined"
        assert (await ann.join(quiz_id, name="Ann"))["payload"]["role"] == "player"
        assert (await bob.join(quiz_id, name="Bob"))["type"] == "joined"
        assert (await host.request("start"))["type"] == "host_state"
        for index in range(2):
            question = await ann.expect("question")
            await bob.expect("question")
            qid = question["payload"]["questionId"]
            ann_result = await ann.request("answer", {"questionId": qid, "choice": index % 4})
            assert ann_result["payload"]["correct"] is True
            bob_result = await bob.request("answer", {"questionId": qid, "choice": (index + 1) % 4})
            assert bob_result["payload"]["correct"] is False
            await host.request("next", {"questionIndex": index})
            closed = await ann.expect("question_closed")
            assert closed["payload"]["correctChoice"] == index % 4
        ended = await ann.expect("quiz_ended")
        assert ended["payload"]["you"]["rank"] == 1
    results = await control.results(quiz_id)
    assert [entry["name"] for entry in results["leaderboard"]] == ["Ann", "Bob"]
    assert len(results["questions"]) == 2
