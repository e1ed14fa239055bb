"""``answer`` payloads of every kind (wire contract v2 section 3): parsed into typed
fields, JSON type errors as ``invalid_message`` with their path, and the echo."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from quizd.convert import converter
from quizd.protocol.errors import ProtocolError
from quizd.protocol.messages import Answer, AnswerPayload, parse_message


def parse(payload: dict[str, Any]) -> AnswerPayload:
    message = parse_message({"type": "answer", "payload": payload})
    assert isinstance(message.payload, AnswerPayload)
    return message.payload


@pytest.mark.parametrize(
    ("fields", "answer"),
    [
        ({"choice": 2}, Answer(choice=2)),
        ({"choices": [3, 1]}, Answer(choices=(3, 1))),
        ({"choices": []}, Answer(choices=())),  # empty: the game's invalid_choice
        ({"text": " Canberra"}, Answer(text=" Canberra")),
        ({"value": 1969}, Answer(value=1969)),
        ({"value": 0.5}, Answer(value=0.5)),
        ({"choice": 0, "text": "x"}, Answer(choice=0, text="x")),  # two fields: the game refuses
    ],
)
def test_answer_fields(fields: dict[str, Any], answer: Answer) -> None:
    payload = parse({"questionId": "q0", **fields})
    assert payload.answer == answer
    assert answer.echo() == fields  # echoed as sent
    assert Answer.from_echo(orjson.loads(orjson.dumps(answer.echo()))) == answer


@pytest.mark.parametrize(
    ("fields", "path"),
    [
        ({}, "payload.choice"),
        ({"choices": 1}, "payload.choices"),
        ({"choices": [1, "2"]}, "payload.choices"),
        ({"choices": [True]}, "payload.choices"),
        ({"text": 5}, "payload.text"),
        ({"text": None}, "payload.text"),
        ({"value": "1969"}, "payload.value"),
        ({"value": True}, "payload.value"),
        ({"value": None}, "payload.value"),
    ],
)
def test_badly_typed_answers_are_invalid_message(fields: dict[str, Any], path: str) -> None:
    with pytest.raises(ProtocolError) as info:
        parse({"questionId": "q0", **fields})
    assert info.value.code == "invalid_message"
    assert info.value.details == {"path": path, "problem": info.value.details["problem"]}  # type: ignore[index]


def test_the_relay_form_is_what_a_client_sends() -> None:
    payload = parse({"questionId": "q0", "text": "Canberra"})
    assert converter.unstructure(payload) == {"questionId": "q0", "text": "Canberra"}
