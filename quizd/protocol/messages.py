"""Client messages: from one text frame to a validated, typed request.

Sans-IO like wsproto: ``parse_frame`` takes the frame's text and returns a
``ClientMessage`` or raises ``ProtocolError`` with the contract's code and, for shape
errors, ``details`` naming the field path.  Payload classes go through the project's
one cattrs converter.  Unknown payload fields are ignored so that newer clients may
send optional fields older servers do not know (the contract only ever grows).
"""

from __future__ import annotations

from typing import Any

import attrs
import cattrs
import orjson

from quizd.convert import converter, describe, error_paths
from quizd.protocol import errors

MAX_ID_CHARS = 64


@attrs.frozen(slots=True)
class JoinPayload:
    quizId: str
    name: str | None = None
    resumeToken: str | None = None
    hostToken: str | None = None


#: A slider's ``value`` as JSON gave it (an integer stays an integer, so it echoes as sent).
Number = int | float


@attrs.frozen(slots=True)
class Answer:
    """What a player answered, as sent: the one field its question's kind reads
    (``choice``, ``choices``, ``text`` or ``value``; wire contract section 3).

    Only JSON types are checked here; whether the fields fit the question (the right
    field for the kind, in range, on a step, not empty) is the game's ``invalid_choice``
    (``quizd.game.kinds``), because only the game knows the question."""

    choice: int | None = None
    choices: tuple[int, ...] | None = None
    text: str | None = None
    value: Number | None = None

    def echo(self) -> dict[str, object]:
        """The answer echo object of the contract, e.g. ``{"choice": 1}`` or
        ``{"choices": [0, 2]}``: every field the player sent, as sent."""
        out: dict[str, object] = {}
        if self.choice is not None:
            out["choice"] = self.choice
        if self.choices is not None:
            out["choices"] = list(self.choices)
        if self.text is not None:
            out["text"] = self.text
        if self.value is not None:
            out["value"] = self.value
        return out

    @classmethod
    def from_echo(cls, echo: dict[str, Any]) -> Answer:
        """The answer an ``echo()`` object describes (snapshots store the echo)."""
        choices = echo.get("choices")
        return cls(
            choice=echo.get("choice"),
            choices=None if choices is None else tuple(choices),
            text=echo.get("text"),
            value=echo.get("value"),
        )


@attrs.frozen(slots=True)
class AnswerPayload:
    """``answer``: the question and the answer's fields; at least one answer field must
    be present (a v1 client sends ``choice``), so a bare ``questionId`` is still
    ``invalid_message`` at ``payload.choice``."""

    questionId: str
    choice: int | None = None
    choices: tuple[int, ...] | None = None
    text: str | None = None
    value: Number | None = None

    @property
    def answer(self) -> Answer:
        return Answer(self.choice, self.choices, self.text, self.value)


def _unstructure_answer(payload: AnswerPayload) -> dict[str, object]:
    """An ``answer`` payload as a client sends it: the fields it had, none as ``null``
    (the cluster relay forwards it in this form and parses it again)."""
    return {"questionId": payload.questionId, **payload.answer.echo()}


converter.register_unstructure_hook(AnswerPayload, _unstructure_answer)

_ANSWER_FIELDS = ("choice", "choices", "text", "value")


def _structure_answer(body: dict[str, Any]) -> AnswerPayload:
    """``answer``'s payload, each field type-checked with its path.  A field sent as
    ``null`` counts as sent (and is refused), as in v1."""
    question_id = body.get("questionId")
    if not isinstance(question_id, str):
        missing = "missing" if "questionId" not in body else f"expected a string, got {describe(question_id)}"
        raise _invalid(f"payload.questionId: {missing}", "payload.questionId", missing)
    if not any(name in body for name in _ANSWER_FIELDS):
        raise _invalid("payload.choice: missing", "payload.choice", "missing")
    fields: dict[str, Any] = {}
    for name in _ANSWER_FIELDS:
        if name not in body:
            continue
        value = body[name]
        problem = _answer_field_problem(name, value)
        if problem is not None:
            raise _invalid(f"payload.{name}: {problem}", f"payload.{name}", problem)
        fields[name] = tuple(value) if name == "choices" else value
    return AnswerPayload(question_id, **fields)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _answer_field_problem(name: str, value: object) -> str | None:
    if name == "choice" and not _is_int(value):
        return f"expected an integer, got {describe(value)}"
    if name == "choices" and not (isinstance(value, list) and all(_is_int(v) for v in value)):
        return f"expected an array of integers, got {describe(value)}"
    if name == "text" and not isinstance(value, str):
        return f"expected a string, got {describe(value)}"
    if name == "value" and (isinstance(value, bool) or not isinstance(value, (int, float))):
        return f"expected a number, got {describe(value)}"
    return None


@attrs.frozen(slots=True)
class EmptyPayload:
    pass


@attrs.frozen(slots=True)
class NextPayload:
    questionIndex: int | None = None


@attrs.frozen(slots=True)
class KickPayload:
    participantId: str


@attrs.frozen(slots=True)
class GetPlayersPayload:
    """The host's ``get_players``: the page after ``after`` (an opaque cursor), at most
    ``limit`` players (1..500, checked by the game, which knows the page size)."""

    after: str
    limit: int | None = None


#: What a client message may carry, by message type (``parse_message`` picks the class).
Payload = JoinPayload | AnswerPayload | EmptyPayload | NextPayload | KickPayload | GetPlayersPayload

PAYLOAD_TYPES: dict[str, type[Payload]] = {
    "join": JoinPayload,
    "answer": AnswerPayload,
    "get_leaderboard": EmptyPayload,
    "ping": EmptyPayload,
    "leave": EmptyPayload,
    "start": EmptyPayload,
    "next": NextPayload,
    "end": EmptyPayload,
    "kick": KickPayload,
    "get_players": GetPlayersPayload,
}
_EMPTY = EmptyPayload()


@attrs.frozen(slots=True)
class ClientMessage:
    type: str
    payload: Payload
    id: str | int | None = None


def _invalid(message: str, path: str | None = None, problem: str | None = None) -> errors.ProtocolError:
    details: dict[str, object] | None = {"path": path, "problem": problem} if path is not None else None
    return errors.ProtocolError(errors.INVALID_MESSAGE, message, details)


def extract_id(raw: Any) -> str | int | None:
    """The message's ``id``, if it is a valid one; invalid ids are simply not echoed."""
    if isinstance(raw, dict):
        msg_id = raw.get("id")
        if isinstance(msg_id, str) and len(msg_id) <= MAX_ID_CHARS:
            return msg_id
        if isinstance(msg_id, int) and not isinstance(msg_id, bool):
            return msg_id
    return None


def decode(text: str) -> Any:
    """JSON-decode a frame; ``invalid_json`` if it is not JSON."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise errors.ProtocolError(errors.INVALID_JSON, f"frame is not valid JSON: {exc}") from None


def parse_message(raw: Any) -> ClientMessage:
    """Validate a decoded envelope and its payload."""
    if not isinstance(raw, dict):
        raise _invalid("a message must be a JSON object", "", "not an object")
    msg_type = raw.get("type")
    if not isinstance(msg_type, str):
        raise _invalid("message has no string 'type'", "type", "missing or not a string")
    if "id" in raw and extract_id(raw) is None:
        raise _invalid("'id' must be a string of at most 64 characters or an integer", "id", "invalid")
    payload_type = PAYLOAD_TYPES.get(msg_type)
    if payload_type is None:
        raise errors.ProtocolError(errors.UNKNOWN_TYPE, f"unknown message type {msg_type!r}")
    body = raw.get("payload", {})
    if not isinstance(body, dict):
        raise _invalid("'payload' must be an object", "payload", "not an object")
    if payload_type is EmptyPayload:
        return ClientMessage(msg_type, _EMPTY, raw.get("id"))
    if payload_type is AnswerPayload:
        return ClientMessage(msg_type, _structure_answer(body), raw.get("id"))
    try:
        payload: Payload = converter.structure(body, payload_type)
    except (cattrs.BaseValidationError, TypeError, ValueError, KeyError) as exc:
        path, problem = error_paths(exc)[0]
        raise _invalid(f"payload.{path}: {problem}", f"payload.{path}", problem) from None
    return ClientMessage(msg_type, payload, raw.get("id"))


def parse_frame(text: str) -> ClientMessage:
    return parse_message(decode(text))


def encode(msg_type: str, payload: Any, reply_to: str | int | None = None) -> bytes:
    """One server message as compact UTF-8 JSON (the frame body); ``reply_to`` (the
    ``id`` of the client message it answers) goes on the wire as ``re``."""
    if reply_to is None:
        return orjson.dumps({"type": msg_type, "payload": payload})
    return orjson.dumps({"type": msg_type, "payload": payload, "re": reply_to})
