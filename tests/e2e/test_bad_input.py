"""Bad and hostile input over a real socket: every refusal the wire contract names.

Each test checks the error (code, ``re``, ``details.path`` where the contract gives
one) and then that the connection, the quiz and the other players carry on.
"""

from __future__ import annotations

import itertools
import json
from contextlib import AsyncExitStack

import pytest
import trio
from trio_websocket import ConnectionClosed

from tests.e2e.protocolkit import (
    WAIT,
    alive,
    answer,
    closed_with,
    collect,
    create_quiz,
    join_host,
    join_player,
    joined_payload,
    open_conn,
    raw_error,
    request_error,
    setup_quiz,
    start_quiz,
    types,
)
from tests.nodekit import quiz_toml

pytestmark = pytest.mark.e2e


async def alive_after_join(node, conn):
    """A connection that only got errors so far can still join and be answered."""
    quiz = await create_quiz(node, "steady")
    assert (await conn.join(quiz.id, name="Zoe"))["type"] == "joined"
    await alive(conn)


# ---------------------------------------------------------------------- framing and envelope
async def test_non_json_text_is_invalid_json_and_the_connection_stays_usable(quizd_node):
    quiz = await create_quiz(quizd_node, "steady")
    async with AsyncExitStack() as stack:
        conn = await open_conn(stack, quizd_node)
        for frame in ["not json", "{", '{"type": "ping",}', "", "{'type': 'ping'}"]:
            error = await raw_error(conn, frame, "invalid_json")
            assert "re" not in error
        assert (await conn.join(quiz.id, name="Ann"))["type"] == "joined"
        await raw_error(conn, '{"type": "ping", "id": 1', "invalid_json")
        await alive(conn)


async def test_json_that_is_not_an_object_is_invalid_message(quizd_node):
    quiz = await create_quiz(quizd_node, "steady")
    async with AsyncExitStack() as stack:
        conn = await open_conn(stack, quizd_node)
        for frame in ['[{"type": "ping"}]', '"ping"', "42", "null", "true"]:
            error = await raw_error(conn, frame, "invalid_message")
            assert "re" not in error
        assert (await conn.join(quiz.id, name="Ann"))["type"] == "joined"
        await raw_error(conn, '["join"]', "invalid_message")
        await alive(conn)


async def test_missing_or_non_string_type_is_invalid_message(quizd_node):
    async with AsyncExitStack() as stack:
        conn = await open_conn(stack, quizd_node)
        for frame, re in [
            ({"payload": {}, "id": "m-1"}, "m-1"),
            ({"type": 7, "payload": {}, "id": 8}, 8),
            ({"type": None, "id": "m-3"}, "m-3"),
        ]:
            error = await raw_error(conn, json.dumps(frame), "invalid_message")
            assert error["re"] == re
            assert error["payload"]["details"]["path"] == "type"
        await alive_after_join(quizd_node, conn)


async def test_invalid_id_is_invalid_message_without_re(quizd_node):
    async with AsyncExitStack() as stack:
        conn = await open_conn(stack, quizd_node)
        for bad_id in ["x" * 65, True, 1.5, {"a": 1}, ["x"]]:
            frame = json.dumps({"type": "ping", "payload": {}, "id": bad_id})
            error = await raw_error(conn, frame, "invalid_message")
            assert "re" not in error
            assert error["payload"]["details"]["path"] == "id"
        # Valid ids, including the longest and the falsy ones, are echoed exactly.
        for good_id in ["y" * 64, "", 0, -5, 2**63 - 1]:
            error = await request_error(conn, "ping", {}, "not_joined", msg_id=good_id)
            assert error["re"] == good_id and type(error["re"]) is type(good_id)


async def test_unknown_type_is_unknown_type_before_and_after_join(quizd_node):
    quiz = await create_quiz(quizd_node, "steady")
    async with AsyncExitStack() as stack:
        conn = await open_conn(stack, quizd_node)
        await request_error(conn, "dance", {}, "unknown_type", msg_id="d-1")
        await request_error(conn, "JOIN", {"quizId": quiz.id, "name": "Ann"}, "unknown_type")
        assert (await conn.join(quiz.id, name="Ann"))["type"] == "joined"
        await request_error(conn, "question", {}, "unknown_type", msg_id=77)
        await alive(conn)


async def test_wrong_field_types_and_missing_fields_name_the_path(quizd_node):
    async with AsyncExitStack() as stack:
        quiz = await create_quiz(quizd_node, "steady")
        host, _ = await join_host(stack, quiz)
        bob, _ = await join_player(stack, quiz, "Bob")
        ann = await open_conn(stack, quizd_node)
        # Before join: the join payload itself.
        join_cases = [
            ({"quizId": 5, "name": "Ann"}, "payload.quizId"),
            ({"name": "Ann"}, "payload.quizId"),
            ({"quizId": quiz.id, "name": 7}, "payload.name"),
            ({"quizId": quiz.id, "resumeToken": ["t"]}, "payload.resumeToken"),
        ]
        for payload, path in join_cases:
            error = await request_error(ann, "join", payload, "invalid_message")
            assert error["payload"]["details"]["path"] == path, error
        await raw_error(ann, json.dumps({"type": "join", "payload": "Ann", "id": 1}), "invalid_message")
        # Exactly one of name / resumeToken / hostToken.
        await request_error(ann, "join", {"quizId": quiz.id}, "invalid_message")
        await request_error(
            ann, "join", {"quizId": quiz.id, "name": "Ann", "hostToken": quiz.host_token}, "invalid_message"
        )
        assert (await ann.join(quiz.id, name="Ann"))["type"] == "joined"

        question = await start_quiz(host, [ann, bob])
        qid = question["questionId"]
        answer_cases = [
            ({"questionId": qid, "choice": "1"}, "payload.choice"),
            ({"questionId": qid, "choice": True}, "payload.choice"),
            ({"questionId": qid, "choice": 1.5}, "payload.choice"),
            ({"questionId": qid, "choice": None}, "payload.choice"),
            ({"questionId": qid}, "payload.choice"),
            ({"questionId": 0, "choice": 0}, "payload.questionId"),
            ({"choice": 0}, "payload.questionId"),
        ]
        for payload, path in answer_cases:
            error = await request_error(ann, "answer", payload, "invalid_message")
            assert error["payload"]["details"]["path"] == path, error
        error = await request_error(host, "kick", {}, "invalid_message")
        assert error["payload"]["details"]["path"] == "payload.participantId"
        error = await request_error(host, "next", {"questionIndex": "0"}, "invalid_message")
        assert error["payload"]["details"]["path"] == "payload.questionIndex"

        # None of that counted as an answer or moved the quiz: both players still answer q0.
        result = await answer(ann, qid, 0)
        assert result["type"] == "answer_result" and result["payload"]["correct"] is True
        assert (await answer(bob, qid, 1))["type"] == "answer_result"


async def test_binary_frame_is_invalid_message_and_the_connection_stays_open(quizd_node):
    async with AsyncExitStack() as stack:
        quiz, host, [bob] = await setup_quiz(stack, quizd_node, "steady", ["Bob"])
        ann = await open_conn(stack, quizd_node)
        await raw_error(ann, b'{"type": "ping", "payload": {}}', "invalid_message")
        assert (await ann.join(quiz.id, name="Ann"))["type"] == "joined"
        await raw_error(ann, b"\x00\xff\x10", "invalid_message")
        await alive(ann)
        question = await start_quiz(host, [ann, bob])
        assert (await answer(ann, question["questionId"], 0))["type"] == "answer_result"


async def test_unknown_fields_are_ignored(quizd_node):
    """The contract only grows: fields a newer client adds must not break an older server."""
    async with AsyncExitStack() as stack:
        quiz, host, [bob] = await setup_quiz(stack, quizd_node, "steady", ["Bob"])
        ann = await open_conn(stack, quizd_node)
        frame = {"type": "join", "id": "j", "v": 2, "payload": {"quizId": quiz.id, "name": "Ann", "avatar": "cat"}}
        await ann.send_raw(json.dumps(frame))
        assert (await ann.expect("joined", WAIT))["re"] == "j"
        await start_quiz(host, [ann, bob])
        frame = {"type": "answer", "id": "a", "payload": {"questionId": "q0", "choice": 0, "confidence": 0.9}}
        await ann.send_raw(json.dumps(frame))
        assert (await ann.expect("answer_result", WAIT))["re"] == "a"


# ---------------------------------------------------------------------- join rules
@pytest.mark.parametrize(
    ("msg_type", "payload"),
    [
        ("ping", {}),
        ("answer", {"questionId": "q0", "choice": 0}),
        ("get_leaderboard", {}),
        ("leave", {}),
        ("start", {}),
        ("next", {}),
        ("end", {}),
        ("kick", {"participantId": "p1"}),
    ],
)
async def test_anything_before_join_is_not_joined(quizd_node, msg_type, payload):
    quiz = await create_quiz(quizd_node, "steady")
    async with AsyncExitStack() as stack:
        conn = await open_conn(stack, quizd_node)
        error = await request_error(conn, msg_type, payload, "not_joined", msg_id=f"early-{msg_type}")
        assert error["re"] == f"early-{msg_type}"
        joined = await conn.join(quiz.id, hostToken=quiz.host_token)
        assert joined["payload"]["quiz"]["phase"] == "lobby"  # an early 'start' did nothing
        await alive(conn)


async def test_second_join_is_already_joined_and_changes_nothing(quizd_node):
    async with AsyncExitStack() as stack:
        quiz, host, [ann] = await setup_quiz(stack, quizd_node, "steady", ["Ann"])
        other = await create_quiz(quizd_node, "steady")
        for payload in [
            {"quizId": quiz.id, "name": "Ann"},
            {"quizId": quiz.id, "name": "Ann Again"},
            {"quizId": other.id, "name": "Ann"},
            {"quizId": quiz.id, "hostToken": quiz.host_token},
            {"quizId": quiz.id, "resumeToken": joined_payload(ann)["resumeToken"]},
        ]:
            await request_error(ann, "join", payload, "already_joined")
        await alive(ann)
        # Still one player, and still a player (not the host).
        board = await ann.request("get_leaderboard", timeout=WAIT)
        assert board["payload"]["total"] == 1
        await request_error(ann, "start", {}, "not_host")
        assert (await quiz.control.quiz(quiz.id))["participants"] == 1
        assert (await quiz.control.quiz(other.id))["participants"] == 0
        # The host too cannot join twice.
        await request_error(host, "join", {"quizId": quiz.id, "name": "Hosty"}, "already_joined")
        await start_quiz(host, [ann])


@pytest.mark.parametrize(
    "name",
    [
        "",
        "   ",
        "x" * 25,
        "\u0007",
        "Ann\u0007",
        "\u200b",
        "A\u200bnn",
        "\ue000",
        "\u0378",
        "\t\n",
        "\u3164",
        "\u2800\u2800",
        "\u0301\u0302",
        "Ann\u3164",
    ],
    ids=[
        "empty",
        "spaces",
        "25-code-points",
        "bell",
        "embedded-bell",
        "zwsp",
        "embedded-zwsp",
        "private-use",
        "unassigned",
        "whitespace-controls",
        "hangul-filler",
        "braille-blank",
        "only-marks",
        "hidden-filler",
    ],
)
async def test_invalid_names_are_name_invalid(quizd_node, name):
    quiz = await create_quiz(quizd_node, "steady")
    async with AsyncExitStack() as stack:
        conn = await open_conn(stack, quizd_node)
        error = await request_error(conn, "join", {"quizId": quiz.id, "name": name}, "name_invalid")
        assert error["payload"]["details"]["reason"] in {
            "empty",
            "too_long",
            "forbidden_character",
            "invisible_character",
            "blank",
        }
        # A refused join is not a join: the same connection may try again.
        joined = await conn.join(quiz.id, name="Valid Name")
        assert joined["payload"]["name"] == "Valid Name"


async def test_name_limits_count_code_points_after_trim_and_nfc(quizd_node):
    quiz = await create_quiz(quizd_node, "steady")
    async with AsyncExitStack() as stack:
        _, joined = await join_player(stack, quiz, "x" * 24)
        assert joined["payload"]["name"] == "x" * 24
        _, joined = await join_player(stack, quiz, "  Zed  ")
        assert joined["payload"]["name"] == "Zed"
        # 24 decomposed e-acute (48 code points) is 24 code points once NFC-normalised.
        _, joined = await join_player(stack, quiz, "e\u0301" * 24)
        assert joined["payload"]["name"] == "\u00e9" * 24
        _, joined = await join_player(stack, quiz, "\U0001f600" * 24)  # astral: 24 code points
        assert joined["payload"]["name"] == "\U0001f600" * 24


async def test_names_equal_after_nfkc_casefold_are_name_taken(quizd_node):
    quiz = await create_quiz(quizd_node, "steady")
    async with AsyncExitStack() as stack:
        ann, _ = await join_player(stack, quiz, "Ann")
        conn = await open_conn(stack, quizd_node)
        for name in ["Ann", "ANN", "ann", "\uff21\uff4e\uff4e", " aNn "]:
            await request_error(conn, "join", {"quizId": quiz.id, "name": name}, "name_taken")
        assert (await conn.join(quiz.id, name="Anne"))["type"] == "joined"
        # Names are unique per quiz only.
        other = await create_quiz(quizd_node, "steady")
        await join_player(stack, other, "ANN")
        await alive(ann)


async def test_unknown_quiz_is_quiz_not_found(quizd_node):
    async with AsyncExitStack() as stack:
        conn = await open_conn(stack, quizd_node)
        for payload in [
            {"quizId": "no-such-quiz", "name": "Ann"},
            {"quizId": "", "name": "Ann"},
            {"quizId": "no-such-quiz", "resumeToken": "whatever"},
            {"quizId": "no-such-quiz", "hostToken": "whatever"},
        ]:
            await request_error(conn, "join", payload, "quiz_not_found")
        await alive_after_join(quizd_node, conn)


async def test_bad_resume_token_is_invalid_resume_token(quizd_node):
    async with AsyncExitStack() as stack:
        quiz, host, [ann] = await setup_quiz(stack, quizd_node, "steady", ["Ann"])
        other = await create_quiz(quizd_node, "steady")
        _, other_joined = await join_player(stack, other, "Olga")
        conn = await open_conn(stack, quizd_node)
        for token in ["nope", "", other_joined["payload"]["resumeToken"]]:
            await request_error(conn, "join", {"quizId": quiz.id, "resumeToken": token}, "invalid_resume_token")
        assert (await conn.join(quiz.id, name="Bob"))["type"] == "joined"
        await start_quiz(host, [ann, conn])


async def test_bad_host_token_is_not_host(quizd_node):
    async with AsyncExitStack() as stack:
        quiz, host, [ann] = await setup_quiz(stack, quizd_node, "steady", ["Ann"])
        other = await create_quiz(quizd_node, "steady")
        ann_token = joined_payload(ann)["resumeToken"]
        conn = await open_conn(stack, quizd_node)
        for token in ["nope", "", other.host_token, ann_token]:
            await request_error(conn, "join", {"quizId": quiz.id, "hostToken": token}, "not_host")
        # The real host was not replaced by any of that.
        await alive(host)
        await start_quiz(host, [ann])


async def test_late_join_refused_when_the_quiz_disallows_it(quizd_node):
    async with AsyncExitStack() as stack:
        quiz, host, [ann] = await setup_quiz(stack, quizd_node, "no-late", ["Ann"])
        token = joined_payload(ann)["resumeToken"]
        await start_quiz(host, [ann])
        late = await open_conn(stack, quizd_node)
        await request_error(late, "join", {"quizId": quiz.id, "name": "Late"}, "wrong_phase")
        # A player who was already in may still come back.
        await ann.close()
        back = await open_conn(stack, quizd_node)
        joined = await back.join(quiz.id, resumeToken=token)
        assert joined["type"] == "joined"
        assert joined["payload"]["question"]["questionId"] == "q0"
        assert (await answer(back, "q0", 0))["payload"]["correct"] is True


async def test_join_or_resume_of_an_ended_quiz_is_quiz_ended(quizd_node):
    async with AsyncExitStack() as stack:
        quiz, host, [ann] = await setup_quiz(stack, quizd_node, "steady", ["Ann"])
        token = joined_payload(ann)["resumeToken"]
        await host.request("end", timeout=WAIT)
        assert (await closed_with(ann))[0] == 4004
        conn = await open_conn(stack, quizd_node)
        await request_error(conn, "join", {"quizId": quiz.id, "name": "Bob"}, "quiz_ended")
        await request_error(conn, "join", {"quizId": quiz.id, "resumeToken": token}, "quiz_ended")
        await request_error(conn, "join", {"quizId": quiz.id, "hostToken": quiz.host_token}, "quiz_ended")
        await alive_after_join(quizd_node, conn)


# ---------------------------------------------------------------------- answers
async def test_answer_to_unknown_or_closed_question_is_question_closed(quizd_node):
    async with AsyncExitStack() as stack:
        _quiz, host, [ann, bob] = await setup_quiz(stack, quizd_node, "steady", ["Ann", "Bob"])
        await request_error(ann, "answer", {"questionId": "q0", "choice": 0}, "question_closed")  # lobby
        question = await start_quiz(host, [ann, bob])
        assert question["questionId"] == "q0"
        for qid in ["q99", "q1", "nope", ""]:
            await request_error(ann, "answer", {"questionId": qid, "choice": 0}, "question_closed")
        assert (await answer(ann, "q0", 0))["type"] == "answer_result"
        await host.request("next", {"questionIndex": 0}, timeout=WAIT)
        await bob.expect("question_closed", WAIT)
        await request_error(bob, "answer", {"questionId": "q0", "choice": 0}, "question_closed")  # reveal
        await host.request("next", {"questionIndex": 0}, timeout=WAIT)
        await bob.expect("question", WAIT)
        await request_error(bob, "answer", {"questionId": "q0", "choice": 0}, "question_closed")  # q1 open
        result = await answer(bob, "q1", 1)
        assert result["payload"]["correct"] is True


async def test_out_of_range_choice_is_invalid_choice(quizd_node):
    async with AsyncExitStack() as stack:
        _quiz, host, [ann] = await setup_quiz(stack, quizd_node, "steady", ["Ann"])
        await start_quiz(host, [ann])
        for choice in [4, -1, 99, 2**40]:
            await request_error(ann, "answer", {"questionId": "q0", "choice": choice}, "invalid_choice")
        # A refused choice was not recorded: Ann may still answer, with any choice.
        result = await answer(ann, "q0", 3)
        assert result["type"] == "answer_result" and result["payload"]["choice"] == 3


@pytest.mark.parametrize("definition", ["steady", "steady-close"])
async def test_double_answer(quizd_node, definition):
    async with AsyncExitStack() as stack:
        _quiz, host, [ann] = await setup_quiz(stack, quizd_node, definition, ["Ann"])
        await start_quiz(host, [ann])
        first = await answer(ann, "q0", 2)
        expected_type = "answer_result" if definition == "steady" else "answer_accepted"
        assert first["type"] == expected_type
        await request_error(ann, "answer", {"questionId": "q0", "choice": 0}, "already_answered")
        again = await answer(ann, "q0", 2)
        assert again["type"] == expected_type
        assert again["payload"] == first["payload"]
        assert again["re"] != first["re"]
        # The retry after the close gets the latest reply: the scored result.
        await host.request("next", {"questionIndex": 0}, timeout=WAIT)
        await ann.expect("question_closed", WAIT)
        if definition == "steady-close":
            first = await ann.expect("answer_result", WAIT)
        late_retry = await answer(ann, "q0", 2)
        assert late_retry["type"] == "answer_result"
        assert late_retry["payload"] == first["payload"]
        await request_error(ann, "answer", {"questionId": "q0", "choice": 1}, "already_answered")


async def test_host_sending_answer_is_invalid_message(quizd_node):
    async with AsyncExitStack() as stack:
        _quiz, host, [ann] = await setup_quiz(stack, quizd_node, "steady", ["Ann"])
        await start_quiz(host, [ann])
        await request_error(host, "answer", {"questionId": "q0", "choice": 0}, "invalid_message")
        state = await host.request("next", {"questionIndex": 0}, timeout=WAIT)
        assert state["payload"]["answered"] == 0
        closed = await ann.expect("question_closed", WAIT)
        assert closed["payload"]["distribution"] == [0, 0, 0, 0]


# ---------------------------------------------------------------------- host commands
async def test_host_commands_from_a_player_are_not_host(quizd_node):
    async with AsyncExitStack() as stack:
        quiz, host, [ann, bob] = await setup_quiz(stack, quizd_node, "steady", ["Ann", "Bob"])
        bob_id = joined_payload(bob)["participantId"]
        commands = [("start", {}), ("next", {}), ("end", {}), ("kick", {"participantId": bob_id})]
        for msg_type, payload in commands:
            await request_error(ann, msg_type, payload, "not_host")
        assert (await quiz.control.quiz(quiz.id))["phase"] == "lobby"
        await start_quiz(host, [ann, bob])
        for msg_type, payload in commands:
            await request_error(ann, msg_type, payload, "not_host")
        # Bob was not kicked and q0 is still open for both.
        assert (await answer(bob, "q0", 0))["type"] == "answer_result"
        assert (await answer(ann, "q0", 1))["type"] == "answer_result"


async def test_kick_of_unknown_participant_and_resume_after_kick(quizd_node):
    async with AsyncExitStack() as stack:
        quiz, host, [ann, bob] = await setup_quiz(stack, quizd_node, "steady", ["Ann", "Bob"])
        ann_joined = joined_payload(ann)
        for target in ["p999", "", "host"]:
            await request_error(host, "kick", {"participantId": target}, "unknown_participant")
        state = await host.request("kick", {"participantId": ann_joined["participantId"]}, timeout=WAIT)
        assert state["type"] == "host_state"
        code, before = await closed_with(ann)
        assert code == 4001 and "kicked" in types(before)
        await request_error(host, "kick", {"participantId": ann_joined["participantId"]}, "unknown_participant")
        conn = await open_conn(stack, quizd_node)
        await request_error(
            conn, "join", {"quizId": quiz.id, "resumeToken": ann_joined["resumeToken"]}, "invalid_resume_token"
        )
        # The others carry on.
        await start_quiz(host, [bob])
        assert (await answer(bob, "q0", 0))["payload"]["correct"] is True


async def test_next_with_a_stale_question_index_is_wrong_phase(quizd_node):
    async with AsyncExitStack() as stack:
        _quiz, host, [ann] = await setup_quiz(stack, quizd_node, "steady", ["Ann"])
        await request_error(host, "next", {}, "wrong_phase")  # lobby
        await request_error(host, "next", {"questionIndex": 0}, "wrong_phase")
        await start_quiz(host, [ann])
        for stale in [1, -1, 5]:
            await request_error(host, "next", {"questionIndex": stale}, "wrong_phase")
        assert (await answer(ann, "q0", 0))["type"] == "answer_result"  # q0 still open
        await host.request("next", {"questionIndex": 0}, timeout=WAIT)  # close q0
        await host.request("next", {"questionIndex": 0}, timeout=WAIT)  # end the reveal: q1
        await ann.expect("question", WAIT)
        await request_error(host, "next", {"questionIndex": 0}, "wrong_phase")  # a late retry
        assert (await answer(ann, "q1", 1))["type"] == "answer_result"  # q1 still open


async def test_start_twice_is_wrong_phase(quizd_node):
    async with AsyncExitStack() as stack:
        quiz, host, [ann] = await setup_quiz(stack, quizd_node, "steady", ["Ann"])
        await start_quiz(host, [ann])
        await request_error(host, "start", {}, "wrong_phase")
        await host.request("next", {"questionIndex": 0}, timeout=WAIT)
        await request_error(host, "start", {}, "wrong_phase")
        assert (await quiz.control.quiz(quiz.id))["questionIndex"] == 0
        assert "quiz_starting" not in types(await collect(ann, 0.2))


# ---------------------------------------------------------------------- size and rate limits
def padded_ping(total_bytes: int, filler: str = "x") -> str:
    """A ping frame of exactly ``total_bytes`` UTF-8 bytes (``filler`` is 1 or 3 bytes)."""
    base = json.dumps({"type": "ping", "payload": {}, "id": "pad", "pad": ""}, ensure_ascii=False)
    room = total_bytes - len(base.encode())
    width = len(filler.encode())
    pad = filler * (room // width) + "x" * (room % width)
    frame = json.dumps({"type": "ping", "payload": {}, "id": "pad", "pad": pad}, ensure_ascii=False)
    assert len(frame.encode()) == total_bytes
    return frame


async def test_oversized_frame_closes_1009_and_others_carry_on(quizd_node):
    async with AsyncExitStack() as stack:
        quiz, host, [ann, bob] = await setup_quiz(stack, quizd_node, "steady", ["Ann", "Bob"])
        await bob.send_raw(padded_ping(4096))  # exactly the limit: fine
        assert (await bob.expect("pong", WAIT))["re"] == "pad"
        await bob.send_raw(padded_ping(4097))
        code, _ = await closed_with(bob)
        assert code == 1009
        await alive(ann)
        # A binary frame over the limit is refused the same way.
        cat, _ = await join_player(stack, quiz, "Cat")
        await cat.send_raw(b"\x00" * 4097)
        assert (await closed_with(cat))[0] == 1009
        await start_quiz(host, [ann])
        assert (await answer(ann, "q0", 0))["payload"]["correct"] is True
        # Bob's connection dropped; Bob did not leave and may come back.
        back = await open_conn(stack, quizd_node)
        joined = await back.join(quiz.id, resumeToken=joined_payload(bob)["resumeToken"])
        assert joined["payload"]["question"]["answered"] is False


async def test_oversized_frame_is_measured_in_bytes_not_characters(quizd_node):
    async with AsyncExitStack() as stack:
        _quiz, _host, [ann, bob] = await setup_quiz(stack, quizd_node, "steady", ["Ann", "Bob"])
        frame = padded_ping(4200, filler="\u20ac")  # ~1400 characters, 4200 bytes
        assert len(frame) < 4096 < len(frame.encode())
        await bob.send_raw(frame)
        code = None
        with trio.move_on_after(1):
            code, _ = await closed_with(bob)
        assert not any(m.get("re") == "pad" for m in bob.received), "a frame over the byte limit was answered"
        assert code == 1009
        await alive(ann)


def limited_node(node_factory):
    return node_factory(
        definitions={"steady": quiz_toml("steady", questions=1, reveal_ms=30000)},
        limits={"messages_per_second": 10, "burst": 5},
        leaderboard={"interval_ms": 100},
        node={"drain_timeout_s": 0},
    )


async def test_flood_is_rate_limited_with_at_most_one_error_per_second(node_factory):
    node = limited_node(node_factory)
    async with AsyncExitStack() as stack:
        _quiz, host, [ann, bob] = await setup_quiz(stack, node, "steady", ["Ann", "Bob"])
        arrivals: list[tuple[float, dict]] = []

        async def reader():
            while True:
                message = await ann.recv(WAIT)
                arrivals.append((trio.current_time(), message))

        sent = 0
        async with trio.open_nursery() as nursery:
            nursery.start_soon(reader)
            started = trio.current_time()
            # ~50 frames/s for 1.5 s: 75 frames, about 20 accepted and 55 dropped (< 100).
            while trio.current_time() - started < 1.5:
                await ann.send("ping", msg_id=f"f{sent}")
                sent += 1
                await trio.sleep(0.02)
            flood_s = trio.current_time() - started
            await trio.sleep(1.0)  # the bucket refills; the connection was not closed
            with trio.fail_after(WAIT):
                while not any(m.get("re") == "after" for _, m in arrivals):
                    await ann.send("ping", msg_id="after")
                    await trio.sleep(0.3)
            nursery.cancel_scope.cancel()
        pongs = [m for _, m in arrivals if m["type"] == "pong" and m["re"] != "after"]
        limited = [(t, m) for t, m in arrivals if m["type"] == "error"]
        assert all(m["payload"]["code"] == "rate_limited" for _, m in limited)
        assert 1 <= len(limited) <= int(flood_s) + 1, limited
        gaps = [b[0] - a[0] for a, b in itertools.pairwise(limited)]
        assert all(gap > 0.5 for gap in gaps), gaps  # the server spaces them >= 1 s apart
        assert 4 <= len(pongs) <= 5 + 10 * flood_s + 3, (len(pongs), sent)
        assert len(pongs) < sent
        # The quiz and the other player were never affected.
        await alive(bob)
        await start_quiz(host, [ann, bob])
        assert (await answer(ann, "q0", 0))["type"] == "answer_result"


async def test_sustained_flood_closes_1008_and_others_carry_on(node_factory):
    node = limited_node(node_factory)
    async with AsyncExitStack() as stack:
        _quiz, host, [ann, bob] = await setup_quiz(stack, node, "steady", ["Ann", "Bob"])
        started = trio.current_time()
        try:
            for _ in range(200):
                await ann.send("ping")
        except ConnectionClosed:
            pass  # the server may close before the last frames are sent
        code, before = await closed_with(ann)
        elapsed = trio.current_time() - started
        assert code == 1008
        errors = [m for m in before if m["type"] == "error"]
        assert errors and all(m["payload"]["code"] == "rate_limited" for m in errors)
        assert len(errors) <= int(elapsed) + 1
        assert 1 <= types(before).count("pong") <= 5 + 10 * elapsed + 2
        await alive(bob)
        question = await start_quiz(host, [bob])
        assert (await answer(bob, question["questionId"], 0))["payload"]["correct"] is True
