"""The HTTP control plane (wire contract §2) against a real node over real sockets.

Every test starts its own node (``node_factory``), so metric values and the set of
quizzes are this test's alone.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import trio

from quizd.client import ControlClient, connect
from tests.e2e.httpkit import metric_value, raw_http
from tests.e2e.protocolkit import close_code
from tests.nodekit import quiz_toml

pytestmark = pytest.mark.e2e

DEFS = {
    "alpha": quiz_toml("alpha", questions=2, reveal_ms=200),
    "beta": quiz_toml("beta", questions=3, reveal_ms=200),
}

# Every /api/* route with a method it answers to.
API_ROUTES = [
    ("GET", "/api/definitions", None),
    ("GET", "/api/quizzes", None),
    ("POST", "/api/quizzes", {"definitionId": "alpha"}),
    ("GET", "/api/quizzes/{id}", None),
    ("GET", "/api/quizzes/{id}/results", None),
    ("POST", "/api/quizzes/{id}/end", None),
]


# --------------------------------------------------------------------------- helpers


def assert_error(status: int, body: Any, want_status: int, want_code: str) -> None:
    assert status == want_status, (status, body)
    assert isinstance(body, dict) and set(body) == {"error"}, body
    assert body["error"]["code"] == want_code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"], body


async def get_metrics(node: Any) -> str:
    status, _headers, body = await raw_http(node.http_url, "GET", "/metrics")
    assert status == 200
    return body.decode()


async def play_first_question(
    node: Any, control: ControlClient, definition: str = "alpha"
) -> tuple[str, dict[str, Any]]:
    """Create a quiz, a host and one player; the player answers q0 right, the host closes it."""
    created = await control.create_quiz(definition)
    quiz_id = created["quizId"]
    async with connect(node.ws_url) as host, connect(node.ws_url) as ann:
        assert (await host.join(quiz_id, hostToken=created["hostToken"]))["type"] == "joined"
        assert (await ann.join(quiz_id, name="Ann"))["type"] == "joined"
        assert (await host.request("start"))["type"] == "host_state"
        question = await ann.expect("question")
        result = await ann.request("answer", {"questionId": question["payload"]["questionId"], "choice": 0})
        assert result["payload"]["correct"] is True
        await host.request("next", {"questionIndex": 0})
        await ann.expect("question_closed")
    return quiz_id, created


# --------------------------------------------------------------------------- probes and metrics


async def test_healthz_and_readyz(node_factory):
    node = node_factory(definitions=DEFS)
    control = ControlClient(node.http_url)  # no token: these need none
    assert await control.request("GET", "/healthz") == (200, {"status": "ok"})
    assert await control.request("GET", "/readyz") == (200, {"status": "ready"})
    status, headers, _ = await raw_http(node.http_url, "GET", "/healthz")
    assert status == 200 and headers["content-type"].startswith("application/json")


async def test_metrics_exposition_and_counters_after_a_question(node_factory):
    node = node_factory(definitions=DEFS)
    status, headers, body = await raw_http(node.http_url, "GET", "/metrics")
    assert status == 200
    assert headers["content-type"].startswith("text/plain")
    text = body.decode()
    for name in ("quizd_connections_open", "quizd_answers_total", "process_start_time_seconds"):
        assert re.search(rf"^{name}(\{{| )", text, re.M), f"{name} missing from /metrics"
    assert metric_value(text, "process_start_time_seconds") > 0
    before_correct = metric_value(text, "quizd_answers_total", {"outcome": "correct"})
    before_questions = metric_value(text, "quizd_messages_sent_total", {"type": "question"})

    control = ControlClient(node.http_url, node.token)
    await play_first_question(node, control)

    text = await get_metrics(node)
    assert metric_value(text, "quizd_answers_total", {"outcome": "correct"}) > before_correct
    # The question went to the host and the player.
    assert metric_value(text, "quizd_messages_sent_total", {"type": "question"}) >= before_questions + 2
    assert metric_value(text, "quizd_quizzes_created_total") >= 1


async def test_metrics_connections_open_follows_the_sockets(node_factory):
    node = node_factory(definitions=DEFS)
    assert metric_value(await get_metrics(node), "quizd_connections_open") == 0
    async with connect(node.ws_url), connect(node.ws_url):
        with trio.fail_after(5):
            while metric_value(await get_metrics(node), "quizd_connections_open") != 2:
                await trio.sleep(0.05)
    with trio.fail_after(10):
        while metric_value(await get_metrics(node), "quizd_connections_open") != 0:
            await trio.sleep(0.05)


async def test_metrics_count_rejected_answers(node_factory):
    node = node_factory(definitions=DEFS)
    control = ControlClient(node.http_url, node.token)
    created = await control.create_quiz("alpha")
    quiz_id = created["quizId"]
    before = metric_value(await get_metrics(node), "quizd_answers_total", {"outcome": "rejected"})
    async with connect(node.ws_url) as host, connect(node.ws_url) as ann:
        await host.join(quiz_id, hostToken=created["hostToken"])
        await ann.join(quiz_id, name="Ann")
        await host.request("start")
        question = await ann.expect("question")
        qid = question["payload"]["questionId"]
        await ann.request("answer", {"questionId": qid, "choice": 0})
        refused = await ann.request("answer", {"questionId": qid, "choice": 1})
        assert refused["payload"]["code"] == "already_answered"
        refused = await ann.request("answer", {"questionId": qid, "choice": 9})
        assert refused["payload"]["code"] in ("already_answered", "invalid_choice")
    after = metric_value(await get_metrics(node), "quizd_answers_total", {"outcome": "rejected"})
    assert after >= before + 2


# --------------------------------------------------------------------------- auth


async def test_every_api_route_needs_the_admin_token(node_factory):
    node = node_factory(definitions=DEFS)
    quiz_id = (await ControlClient(node.http_url, node.token).create_quiz("alpha"))["quizId"]
    for client in (ControlClient(node.http_url, token=""), ControlClient(node.http_url, token="wrong")):
        for method, path, body in API_ROUTES:
            status, answer = await client.request(method, path.format(id=quiz_id), body)
            assert_error(status, answer, 401, "unauthorized")
    # Not a bearer token, or the right token under another scheme / with a suffix.
    for value in (node.token, f"Basic {node.token}", f"Bearer {node.token}x", "Bearer", f"Bearer{node.token}"):
        status, _, raw = await raw_http(node.http_url, "GET", "/api/definitions", headers={"Authorization": value})
        assert_error(status, json.loads(raw), 401, "unauthorized")
    # A refused create did not create anything; the quiz is still live.
    quizzes = await ControlClient(node.http_url, node.token).quizzes()
    assert [q["quizId"] for q in quizzes] == [quiz_id]
    assert (await ControlClient(node.http_url, node.token).quiz(quiz_id))["phase"] == "lobby"


async def test_the_scheme_is_case_insensitive(node_factory):
    node = node_factory(definitions=DEFS)
    status, _, raw = await raw_http(
        node.http_url, "GET", "/api/definitions", headers={"Authorization": f"bearer {node.token}"}
    )
    assert status == 200, raw


async def test_admin_token_from_the_environment_overrides_the_file(node_factory):
    node = node_factory(definitions=DEFS, env={"QUIZD_ADMIN_TOKEN": "from-env"})
    status, body = await ControlClient(node.http_url, "from-env").request("GET", "/api/definitions")
    assert status == 200, body
    status, body = await ControlClient(node.http_url, node.token).request("GET", "/api/definitions")
    assert_error(status, body, 401, "unauthorized")


async def test_admin_token_from_a_file_and_from_systemd_credentials(node_factory, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("file-token\n")
    node = node_factory(definitions=DEFS, auth={"admin_token": "", "admin_token_file": str(token_file)})
    assert (await ControlClient(node.http_url, "file-token").request("GET", "/api/definitions"))[0] == 200
    assert (await ControlClient(node.http_url, "file-token2").request("GET", "/api/quizzes"))[0] == 401

    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "admin_token").write_text("cred-token\n")
    node = node_factory(definitions=DEFS, auth={"admin_token": ""}, env={"CREDENTIALS_DIRECTORY": str(credentials)})
    assert (await ControlClient(node.http_url, "cred-token").request("GET", "/api/definitions"))[0] == 200
    assert (await ControlClient(node.http_url, "wrong").request("GET", "/api/definitions"))[0] == 401


async def test_no_admin_token_configured_refuses_everyone(node_factory):
    node = node_factory(definitions=DEFS, auth={"admin_token": ""})
    for value in (None, "Bearer ", "Bearer", "Bearer  ", f"Bearer {node.token}"):
        headers = {} if value is None else {"Authorization": value}
        status, _, raw = await raw_http(node.http_url, "GET", "/api/definitions", headers=headers)
        assert_error(status, json.loads(raw), 401, "unauthorized")
    # The probes need no token and still work.
    assert await ControlClient(node.http_url).request("GET", "/readyz") == (200, {"status": "ready"})


# --------------------------------------------------------------------------- definitions


async def test_definitions_list(node_factory):
    node = node_factory(definitions=DEFS)
    control = ControlClient(node.http_url, node.token)
    assert await control.definitions() == [
        {"id": "alpha", "title": "Quiz alpha", "questionCount": 2, "version": 1, "source": "file"},
        {"id": "beta", "title": "Quiz beta", "questionCount": 3, "version": 1, "source": "file"},
    ]


# --------------------------------------------------------------------------- create


async def test_create_quiz_generated_and_explicit_ids(node_factory):
    node = node_factory(definitions=DEFS)
    control = ControlClient(node.http_url, node.token)
    status, body = await control.request("POST", "/api/quizzes", {"definitionId": "alpha"})
    assert status == 201, body
    assert set(body) == {"quizId", "hostToken", "wsUrl"}
    assert re.fullmatch(r"[0-9a-f]{8}", body["quizId"]), body
    assert isinstance(body["hostToken"], str) and len(body["hostToken"]) >= 16
    assert body["wsUrl"] == node.ws_url

    other = await control.create_quiz("alpha")
    assert other["quizId"] != body["quizId"] and other["hostToken"] != body["hostToken"]

    for explicit in ("My_Quiz-1", "x", "A" * 64):
        status, made = await control.request("POST", "/api/quizzes", {"definitionId": "beta", "quizId": explicit})
        assert status == 201, made
        assert made["quizId"] == explicit and made["wsUrl"] == node.ws_url
        assert (await control.quiz(explicit))["definitionId"] == "beta"

    # The host token works over the WebSocket, and only as the host.
    async with connect(body["wsUrl"]) as host:
        joined = await host.join(body["quizId"], hostToken=body["hostToken"])
        assert joined["type"] == "joined" and joined["payload"]["role"] == "host"


async def test_ws_url_is_the_public_url_when_configured(node_factory):
    node = node_factory(definitions=DEFS, websocket={"public_url": "wss://quiz.example.com/ws"})
    created = await ControlClient(node.http_url, node.token).create_quiz("alpha")
    assert created["wsUrl"] == "wss://quiz.example.com/ws"


async def test_create_with_auto_start(node_factory):
    node = node_factory(definitions=DEFS)
    control = ControlClient(node.http_url, node.token)
    created = await control.create_quiz("alpha", auto_start={"minPlayers": 1, "countdownMs": 0})
    async with connect(node.ws_url) as ann:
        await ann.join(created["quizId"], name="Ann")
        question = await ann.expect("question", timeout=5)
        assert question["payload"]["index"] == 0
    assert (await control.quiz(created["quizId"]))["phase"] in ("question", "reveal")


async def test_create_duplicate_and_unknown_definition(node_factory):
    node = node_factory(definitions=DEFS)
    control = ControlClient(node.http_url, node.token)
    await control.create_quiz("alpha", quiz_id="room-1")
    status, body = await control.request("POST", "/api/quizzes", {"definitionId": "beta", "quizId": "room-1"})
    assert_error(status, body, 409, "quiz_exists")
    assert (await control.quiz("room-1"))["definitionId"] == "alpha"  # untouched
    status, body = await control.request("POST", "/api/quizzes", {"definitionId": "nope"})
    assert_error(status, body, 404, "definition_not_found")
    status, body = await control.request("POST", "/api/quizzes", {"definitionId": "nope", "quizId": "room-2"})
    assert_error(status, body, 404, "definition_not_found")
    assert [q["quizId"] for q in await control.quizzes()] == ["room-1"]


async def test_concurrent_creates_of_one_quiz_id_make_one_quiz(node_factory):
    node = node_factory(definitions=DEFS)
    control = ControlClient(node.http_url, node.token)
    statuses: list[int] = []

    async def create() -> None:
        status, _ = await control.request("POST", "/api/quizzes", {"definitionId": "alpha", "quizId": "race"})
        statuses.append(status)

    async with trio.open_nursery() as nursery:
        for _ in range(8):
            nursery.start_soon(create)
    assert sorted(statuses) == [201] + [409] * 7
    assert [q["quizId"] for q in await control.quizzes()] == ["race"]


BAD_BODIES: list[tuple[str, bytes | str | Any]] = [
    ("not JSON", b"{definitionId: alpha"),
    ("not JSON at all", b"\xff\xfe garbage"),
    ("JSON array", [{"definitionId": "alpha"}]),
    ("JSON string", "alpha"),
    ("JSON null", None),
    ("empty object", {}),
    ("missing definitionId", {"quizId": "abc"}),
    ("definitionId a number", {"definitionId": 5}),
    ("definitionId null", {"definitionId": None}),
    ("definitionId an array", {"definitionId": ["alpha"]}),
    ("quizId a number", {"definitionId": "alpha", "quizId": 12}),
    ("autoStart a string", {"definitionId": "alpha", "autoStart": "yes"}),
    ("autoStart an array", {"definitionId": "alpha", "autoStart": [1, 0]}),
    ("autoStart without minPlayers", {"definitionId": "alpha", "autoStart": {}}),
    ("minPlayers 0", {"definitionId": "alpha", "autoStart": {"minPlayers": 0}}),
    ("minPlayers negative", {"definitionId": "alpha", "autoStart": {"minPlayers": -3}}),
    ("minPlayers a string", {"definitionId": "alpha", "autoStart": {"minPlayers": "2"}}),
    ("minPlayers a float", {"definitionId": "alpha", "autoStart": {"minPlayers": 1.5}}),
    ("minPlayers a boolean", {"definitionId": "alpha", "autoStart": {"minPlayers": True}}),
    ("countdownMs negative", {"definitionId": "alpha", "autoStart": {"minPlayers": 1, "countdownMs": -1}}),
    ("quizId with a space", {"definitionId": "alpha", "quizId": "bad id"}),
    ("quizId empty", {"definitionId": "alpha", "quizId": ""}),
    ("quizId too long", {"definitionId": "alpha", "quizId": "a" * 65}),
    ("quizId with a slash", {"definitionId": "alpha", "quizId": "a/b"}),
    ("quizId with dots", {"definitionId": "alpha", "quizId": ".."}),
    ("quizId non-ASCII", {"definitionId": "alpha", "quizId": "quíz"}),
    ("quizId with a leading newline", {"definitionId": "alpha", "quizId": "\nabc"}),
    ("quizId with a trailing newline", {"definitionId": "alpha", "quizId": "abc\n"}),
]


async def test_create_refuses_a_bad_body_with_422(node_factory):
    # One node for all the cases (a node per case would cost ~0.6 s each).
    node = node_factory(definitions=DEFS)
    control = ControlClient(node.http_url, node.token)
    for label, body in BAD_BODIES:
        data = body if isinstance(body, bytes) else json.dumps(body)
        status, answer = await control.request("POST", "/api/quizzes", data)
        assert status == 422, (label, status, answer)
        assert_error(status, answer, 422, "invalid_body")
    assert await control.quizzes() == []


async def test_create_refuses_an_oversized_body_with_413(node_factory):
    node = node_factory(definitions=DEFS)
    control = ControlClient(node.http_url, node.token)
    big = json.dumps({"definitionId": "alpha", "padding": "x" * (64 * 1024)})
    status, answer = await control.request("POST", "/api/quizzes", big)
    assert_error(status, answer, 413, "invalid_body")
    # Just under the limit is still read (and accepted: unknown keys are ignored).
    fits = json.dumps({"definitionId": "alpha", "padding": "x" * (60 * 1024)})
    status, answer = await control.request("POST", "/api/quizzes", fits)
    assert status == 201, answer
    # The limit is 64 KiB exactly.
    prefix = '{"definitionId": "alpha", "padding": "'
    exact = prefix + "x" * (64 * 1024 - len(prefix) - 2) + '"}'
    assert len(exact.encode()) == 64 * 1024
    status, answer = await control.request("POST", "/api/quizzes", exact)
    assert status == 201, answer
    status, answer = await control.request("POST", "/api/quizzes", exact[:-2] + 'x"}')
    assert_error(status, answer, 413, "invalid_body")
    # The node is fine afterwards.
    assert await control.request("GET", "/healthz") == (200, {"status": "ok"})


# --------------------------------------------------------------------------- listing and inspection


async def test_list_and_get_quiz_shapes(node_factory):
    node = node_factory(definitions=DEFS)
    control = ControlClient(node.http_url, node.token)
    assert await control.quizzes() == []
    first = await control.create_quiz("alpha", quiz_id="first")
    await control.create_quiz("beta", quiz_id="second")

    listed = sorted(await control.quizzes(), key=lambda q: q["quizId"])
    assert listed == [
        {"quizId": "first", "definitionId": "alpha", "phase": "lobby", "participants": 0, "node": node.node_id},
        {"quizId": "second", "definitionId": "beta", "phase": "lobby", "participants": 0, "node": node.node_id},
    ]
    assert await control.quiz("second") == {
        "quizId": "second",
        "definitionId": "beta",
        "phase": "lobby",
        "questionIndex": None,
        "participants": 0,
        "node": node.node_id,
    }

    async with connect(node.ws_url) as host, connect(node.ws_url) as ann, connect(node.ws_url) as bob:
        await host.join("first", hostToken=first["hostToken"])
        await ann.join("first", name="Ann")
        await bob.join("first", name="Bob")
        assert (await control.quiz("first"))["participants"] == 2  # the host is not a player
        await host.request("start")
        await ann.expect("question")
        got = await control.quiz("first")
        assert got == {
            "quizId": "first",
            "definitionId": "alpha",
            "phase": "question",
            "questionIndex": 0,
            "participants": 2,
            "node": node.node_id,
        }
        await host.request("next", {"questionIndex": 0})
        await ann.expect("question_closed")
        assert (await control.quiz("first"))["phase"] == "reveal"
        await ann.expect("question", timeout=5)  # reveal_ms = 200
        assert (await control.quiz("first"))["questionIndex"] == 1
        await ann.send("leave")
        assert await close_code(ann) == 1000
        with trio.fail_after(5):
            while (await control.quiz("first"))["participants"] != 1:
                await trio.sleep(0.05)


async def test_unknown_quiz_is_404(node_factory):
    node = node_factory(definitions=DEFS)
    control = ControlClient(node.http_url, node.token)
    for method, path in (
        ("GET", "/api/quizzes/nope"),
        ("GET", "/api/quizzes/nope/results"),
        ("POST", "/api/quizzes/nope/end"),
    ):
        status, body = await control.request(method, path)
        assert_error(status, body, 404, "quiz_not_found")


async def test_unknown_routes_are_404(node_factory):
    node = node_factory(definitions=DEFS)
    control = ControlClient(node.http_url, node.token)
    await control.create_quiz("alpha", quiz_id="q1")
    for path in (
        "/nope",
        "/api",
        "/api/nope",
        "/api/definitions/alpha/extra",
        "/api/quizzes/q1/nope",
        "/api/quizzes/q1/results/extra",
        "/healthzz",
    ):
        status, body = await control.request("GET", path)
        assert_error(status, body, 404, "not_found")


async def test_results_file_names_cannot_escape_the_results_dir(node_factory):
    node = node_factory(definitions=DEFS)
    control = ControlClient(node.http_url, node.token)
    (node.tmp / "secret.json").write_text('{"leak": true}')
    node.results_dir.mkdir(parents=True, exist_ok=True)
    for path in (
        "/api/quizzes/..%2Fsecret/results",
        "/api/quizzes/%2E%2E%2Fsecret/results",
        "/api/quizzes/.%2E/results",
    ):
        status, body = await control.request("GET", path)
        assert status == 404, (path, body)
        assert "leak" not in json.dumps(body)


# --------------------------------------------------------------------------- results and end


async def test_results_before_and_after_a_question_closed(node_factory):
    node = node_factory(definitions=DEFS)
    control = ControlClient(node.http_url, node.token)
    created = await control.create_quiz("alpha")
    quiz_id = created["quizId"]
    status, body = await control.request("GET", f"/api/quizzes/{quiz_id}/results")
    assert_error(status, body, 404, "results_not_ready")

    async with connect(node.ws_url) as host, connect(node.ws_url) as ann, connect(node.ws_url) as bob:
        await host.join(quiz_id, hostToken=created["hostToken"])
        ann_joined = await ann.join(quiz_id, name="Ann")
        bob_joined = await bob.join(quiz_id, name="Bob")
        await host.request("start")
        question = await ann.expect("question")
        qid = question["payload"]["questionId"]
        status, body = await control.request("GET", f"/api/quizzes/{quiz_id}/results")
        assert_error(status, body, 404, "results_not_ready")  # the question is still open
        await ann.request("answer", {"questionId": qid, "choice": 0})
        await bob.expect("question")
        await bob.request("answer", {"questionId": qid, "choice": 2})
        await host.request("next", {"questionIndex": 0})
        await ann.expect("question_closed")

        results = await control.results(quiz_id)
        assert results["quizId"] == quiz_id and results["definitionId"] == "alpha"
        assert results["phase"] == "reveal"
        board = results["leaderboard"]
        assert [(e["rank"], e["name"]) for e in board] == [(1, "Ann"), (2, "Bob")]
        assert board[0]["participantId"] == ann_joined["payload"]["participantId"]
        assert board[1]["participantId"] == bob_joined["payload"]["participantId"]
        assert board[0]["score"] > 0 and board[1]["score"] == 0
        assert set(board[0]) == {"rank", "participantId", "name", "score"}
        assert results["questions"] == [
            {"questionId": qid, "text": "Question 0", "correctChoice": 0, "distribution": [1, 0, 1, 0]}
        ]


async def test_end_over_http_closes_players_and_writes_results(node_factory):
    node = node_factory(definitions=DEFS)
    control = ControlClient(node.http_url, node.token)
    created = await control.create_quiz("beta")
    quiz_id = created["quizId"]
    async with connect(node.ws_url) as host, connect(node.ws_url) as ann:
        await host.join(quiz_id, hostToken=created["hostToken"])
        await ann.join(quiz_id, name="Ann")
        await host.request("start")
        question = await ann.expect("question")
        await ann.request("answer", {"questionId": question["payload"]["questionId"], "choice": 0})

        status, body = await control.request("POST", f"/api/quizzes/{quiz_id}/end")
        assert (status, body) == (200, {"quizId": quiz_id, "phase": "ended"})

        assert await close_code(ann) == 4004
        ended = [m for m in ann.received if m["type"] == "quiz_ended"]
        assert len(ended) == 1, ann.received
        assert ann.received[-1]["type"] == "quiz_ended"  # nothing after it
        assert ended[0]["payload"]["you"] == {"rank": 1, "score": ended[0]["payload"]["leaderboard"][0]["score"]}
        assert ended[0]["payload"]["total"] == 1
        assert await close_code(host) == 4004
        assert any(m["type"] == "quiz_ended" for m in host.received)

    # The ended quiz lingers: listed as ended, results readable, the file written.
    assert (await control.quiz(quiz_id))["phase"] == "ended"
    assert {
        "quizId": quiz_id,
        "definitionId": "beta",
        "phase": "ended",
        "participants": 1,
        "node": node.node_id,
    } in await control.quizzes()
    results = await control.results(quiz_id)
    assert results["phase"] == "ended"
    assert [e["name"] for e in results["leaderboard"]] == ["Ann"]
    assert [q["questionId"] for q in results["questions"]] == ["q0"]
    path = node.results_dir / f"{quiz_id}.json"
    assert path.exists(), list(node.results_dir.glob("*"))
    assert json.loads(path.read_text()) == results

    # Ending again is harmless; joining an ended quiz is refused.
    status, body = await control.request("POST", f"/api/quizzes/{quiz_id}/end")
    assert (status, body) == (200, {"quizId": quiz_id, "phase": "ended"})
    async with connect(node.ws_url) as late:
        refused = await late.join(quiz_id, name="Late")
        assert refused["type"] == "error" and refused["payload"]["code"] == "quiz_ended"


async def test_end_in_the_lobby_writes_empty_results(node_factory):
    node = node_factory(definitions=DEFS)
    control = ControlClient(node.http_url, node.token)
    quiz_id = (await control.create_quiz("alpha"))["quizId"]
    assert await control.end(quiz_id) == {"quizId": quiz_id, "phase": "ended"}
    stored = json.loads((node.results_dir / f"{quiz_id}.json").read_text())
    assert stored["quizId"] == quiz_id and stored["phase"] == "ended"
    assert stored["leaderboard"] == [] and stored["questions"] == []


async def test_results_are_served_from_the_results_dir_once_forgotten(node_factory):
    node = node_factory(definitions=DEFS, quizzes={"linger_s": 0})
    control = ControlClient(node.http_url, node.token)
    quiz_id, _ = await play_first_question(node, control)
    live_results = await control.results(quiz_id)
    await control.end(quiz_id)
    with trio.fail_after(5):
        while (await control.request("GET", f"/api/quizzes/{quiz_id}"))[0] != 404:
            await trio.sleep(0.05)
    assert quiz_id not in [q["quizId"] for q in await control.quizzes()]
    results = await control.results(quiz_id)
    assert results["quizId"] == quiz_id and results["phase"] == "ended"
    assert results["leaderboard"] == live_results["leaderboard"]
    assert results["questions"] == live_results["questions"]
    # Ending a forgotten quiz is a 404; so are results of a quiz that never existed.
    status, body = await control.request("POST", f"/api/quizzes/{quiz_id}/end")
    assert_error(status, body, 404, "quiz_not_found")
    status, body = await control.request("GET", "/api/quizzes/never-was/results")
    assert_error(status, body, 404, "quiz_not_found")


# --------------------------------------------------------------------------- methods


async def test_wrong_methods_are_405(node_factory):
    node = node_factory(definitions=DEFS)
    control = ControlClient(node.http_url, node.token)
    await control.create_quiz("alpha", quiz_id="q1")
    cases = [
        ("POST", "/healthz"),
        ("DELETE", "/healthz"),
        ("POST", "/readyz"),
        ("PUT", "/metrics"),
        ("POST", "/metrics"),
        ("PATCH", "/api/definitions"),
        ("DELETE", "/api/definitions"),
        ("POST", "/api/definitions/alpha"),
        ("PATCH", "/api/definitions/alpha"),
        ("POST", "/api/history"),
        ("POST", "/api/quizzes/q1/report"),
        ("DELETE", "/api/quizzes/q1/report.csv"),
        ("PUT", "/api/quizzes"),
        ("DELETE", "/api/quizzes"),
        ("PATCH", "/api/quizzes"),
        ("DELETE", "/api/quizzes/q1"),
        ("POST", "/api/quizzes/q1"),
        ("PUT", "/api/quizzes/q1"),
        ("POST", "/api/quizzes/q1/results"),
        ("DELETE", "/api/quizzes/q1/results"),
        ("GET", "/api/quizzes/q1/end"),
        ("DELETE", "/api/quizzes/q1/end"),
    ]
    for method, path in cases:
        status, body = await control.request(method, path)
        assert status == 405, (method, path, status, body)
        assert_error(status, body, 405, "method_not_allowed")
    # None of that touched the quiz.
    assert (await control.quiz("q1"))["phase"] == "lobby"


async def test_wrong_admin_tokens_are_throttled_per_address(node_factory):
    """Guessing the admin token: a burst of tries, then 429 for every /api/* request from
    that address (the right token too) until its budget refills, one try a second."""
    node = node_factory()
    wrong = ControlClient(node.http_url, "wrong")
    right = ControlClient(node.http_url, node.token)
    for _ in range(20):
        assert (await wrong.request("GET", "/api/quizzes"))[0] == 401
    status, body = await wrong.request("GET", "/api/quizzes")
    assert_error(status, body, 429, "rate_limited")
    assert body["error"]["details"]["retryAfterMs"] > 0
    status, body = await right.request("GET", "/api/quizzes")
    assert_error(status, body, 429, "rate_limited")
    assert (await raw_http(node.http_url, "GET", "/healthz"))[0] == 200
    await trio.sleep(body["error"]["details"]["retryAfterMs"] / 1000 + 0.05)
    assert (await right.request("GET", "/api/quizzes"))[0] == 200
