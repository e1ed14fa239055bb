"""Client message parsing and server message encoding (protocol.md §1)."""

from __future__ import annotations

import json

import orjson
import pytest

from quizd.protocol import errors as E
from quizd.protocol.errors import ProtocolError
from quizd.protocol.messages import (
    AnswerPayload,
    ClientMessage,
    EmptyPayload,
    JoinPayload,
    KickPayload,
    NextPayload,
    encode,
    parse_frame,
    parse_message,
)


def frame(obj: object) -> str:
    return json.dumps(obj)


def error(text: str) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        parse_frame(text)
    return info.value


# ---------------------------------------------------------------- valid messages
def test_join_player():
    msg = parse_frame(frame({"type": "join", "payload": {"quizId": "q", "name": "Ann"}, "id": "1"}))
    assert msg == ClientMessage("join", JoinPayload(quizId="q", name="Ann"), "1")


def test_join_resume_and_host():
    assert parse_frame(frame({"type": "join", "payload": {"quizId": "q", "resumeToken": "t"}})).payload == JoinPayload(
        quizId="q", resumeToken="t"
    )
    assert parse_frame(frame({"type": "join", "payload": {"quizId": "q", "hostToken": "h"}})).payload == JoinPayload(
        quizId="q", hostToken="h"
    )


def test_answer():
    msg = parse_frame(frame({"type": "answer", "payload": {"questionId": "q0", "choice": 2}, "id": 5}))
    assert msg == ClientMessage("answer", AnswerPayload("q0", 2), 5)


@pytest.mark.parametrize("kind", ["get_leaderboard", "ping", "leave", "start", "end"])
def test_empty_payload_messages(kind):
    msg = parse_frame(frame({"type": kind, "payload": {}}))
    assert msg.type == kind
    assert isinstance(msg.payload, EmptyPayload)
    assert msg.id is None


def test_payload_may_be_omitted_for_empty_messages():
    assert parse_frame('{"type": "ping"}').type == "ping"


def test_next_with_and_without_question_index():
    assert parse_frame(frame({"type": "next", "payload": {}})).payload == NextPayload(None)
    assert parse_frame(frame({"type": "next", "payload": {"questionIndex": 3}})).payload == NextPayload(3)


def test_kick():
    assert parse_frame(frame({"type": "kick", "payload": {"participantId": "p1"}})).payload == KickPayload("p1")


def test_unknown_payload_fields_are_ignored():
    msg = parse_frame(frame({"type": "answer", "payload": {"questionId": "q0", "choice": 1, "hint": True}}))
    assert msg.payload == AnswerPayload("q0", 1)


def test_unknown_envelope_fields_are_ignored():
    assert parse_frame(frame({"type": "ping", "payload": {}, "extra": 1})).type == "ping"


def test_extra_fields_on_empty_payload_are_ignored():
    assert parse_frame(frame({"type": "ping", "payload": {"x": 1}})).type == "ping"


# ---------------------------------------------------------------- ids
@pytest.mark.parametrize("msg_id", ["", "a", "x" * 64, 0, -3, 2**53])
def test_valid_ids_are_kept(msg_id):
    assert parse_frame(frame({"type": "ping", "id": msg_id})).id == msg_id


@pytest.mark.parametrize("msg_id", ["x" * 65, True, False, 1.5, 1.0, None, [], {}])
def test_invalid_ids_are_invalid_message(msg_id):
    err = error(frame({"type": "ping", "id": msg_id}))
    assert err.code == E.INVALID_MESSAGE
    assert err.details["path"] == "id"


def test_id_length_counts_characters_not_bytes():
    assert parse_frame(frame({"type": "ping", "id": "é" * 64})).id == "é" * 64


# ---------------------------------------------------------------- errors
@pytest.mark.parametrize("text", ["", "{", "not json", "{'type': 'ping'}", '{"type": "ping",}'])
def test_invalid_json(text):
    assert error(text).code == E.INVALID_JSON


@pytest.mark.parametrize("text", ["[]", "1", '"ping"', "null"])
def test_non_object_envelope_is_invalid_message(text):
    assert error(text).code == E.INVALID_MESSAGE


@pytest.mark.parametrize("obj", [{}, {"type": 1}, {"type": None}, {"payload": {}}])
def test_missing_or_non_string_type_is_invalid_message(obj):
    err = error(frame(obj))
    assert err.code == E.INVALID_MESSAGE
    assert err.details["path"] == "type"


@pytest.mark.parametrize("kind", ["dance", "joined", "answer_result", "JOIN", ""])
def test_unknown_type(kind):
    assert error(frame({"type": kind, "payload": {}})).code == E.UNKNOWN_TYPE


@pytest.mark.parametrize("payload", [[], "x", 1, None, True])
def test_payload_must_be_an_object(payload):
    err = error(frame({"type": "answer", "payload": payload}))
    assert err.code == E.INVALID_MESSAGE
    assert err.details["path"] == "payload"


@pytest.mark.parametrize("payload", [[], "x", 1])
def test_payload_must_be_an_object_for_empty_messages_too(payload):
    err = error(frame({"type": "ping", "payload": payload}))
    assert err.code == E.INVALID_MESSAGE
    assert err.details["path"] == "payload"


@pytest.mark.parametrize(
    ("msg", "path"),
    [
        ({"type": "answer", "payload": {"questionId": "q0"}}, "payload.choice"),
        ({"type": "answer", "payload": {"choice": 1}}, "payload.questionId"),
        ({"type": "answer"}, "payload.questionId"),
        ({"type": "answer", "payload": {"questionId": 0, "choice": 1}}, "payload.questionId"),
        ({"type": "answer", "payload": {"questionId": "q0", "choice": "1"}}, "payload.choice"),
        ({"type": "answer", "payload": {"questionId": "q0", "choice": 1.0}}, "payload.choice"),
        ({"type": "answer", "payload": {"questionId": "q0", "choice": True}}, "payload.choice"),
        ({"type": "answer", "payload": {"questionId": "q0", "choice": None}}, "payload.choice"),
        ({"type": "join", "payload": {}}, "payload.quizId"),
        ({"type": "join", "payload": {"quizId": 7}}, "payload.quizId"),
        ({"type": "join", "payload": {"quizId": "q", "name": 7}}, "payload.name"),
        ({"type": "join", "payload": {"quizId": "q", "resumeToken": []}}, "payload.resumeToken"),
        ({"type": "kick", "payload": {}}, "payload.participantId"),
        ({"type": "kick", "payload": {"participantId": None}}, "payload.participantId"),
        ({"type": "next", "payload": {"questionIndex": "1"}}, "payload.questionIndex"),
        ({"type": "next", "payload": {"questionIndex": False}}, "payload.questionIndex"),
    ],
)
def test_bad_fields_are_invalid_message_naming_the_path(msg, path):
    err = error(frame(msg))
    assert err.code == E.INVALID_MESSAGE
    assert err.details["path"] == path
    assert err.details["problem"]
    assert err.payload()["details"]["path"] == path


def test_error_payload_shape():
    err = error("{")
    body = err.payload()
    assert body["code"] == "invalid_json"
    assert isinstance(body["message"], str) and body["message"]
    assert "details" not in body


def test_parse_message_takes_decoded_objects():
    assert parse_message({"type": "ping"}).type == "ping"


# ---------------------------------------------------------------- encode
def test_encode_without_re():
    body = encode("pong", {"serverTime": 5})
    assert isinstance(body, bytes)
    assert orjson.loads(body) == {"type": "pong", "payload": {"serverTime": 5}}


@pytest.mark.parametrize("re", ["abc", 0, 12])
def test_encode_with_re(re):
    assert orjson.loads(encode("pong", {}, re)) == {"type": "pong", "payload": {}, "re": re}


def test_encode_is_compact_utf8():
    body = encode("joined", {"name": "Zoë"})
    assert b" " not in body
    assert "Zoë".encode() in body


def test_encode_round_trips_id_as_re():
    msg = parse_frame(frame({"type": "ping", "id": "abc"}))
    assert orjson.loads(encode("pong", {}, msg.id))["re"] == "abc"
