"""Root-logger setup: JSON lines, text lines, context fields, token scrubbing, levels."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import attrs
import pytest

from quizd.ops.logging import set_level, setup_logging

TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
NOISY = ("hypercorn.access", "trio-websocket")


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    noisy = {name: logging.getLogger(name).level for name in NOISY}
    yield
    for h in list(root.handlers):
        root.removeHandler(h)
    for h in handlers:
        root.addHandler(h)
    root.setLevel(level)
    for name, lvl in noisy.items():
        logging.getLogger(name).setLevel(lvl)


def _lines(stream: io.StringIO) -> list[str]:
    return [line for line in stream.getvalue().splitlines() if line]


def _json_lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in _lines(stream)]


def test_json_line_has_core_and_context_fields() -> None:
    out = io.StringIO()
    setup_logging("info", "json", stream=out)
    logging.getLogger("quizd.actor").info(
        "player %s joined",
        "Ann",
        extra={
            "quizId": "vocab-101",
            "participantId": "p-1",
            "node": "node-1",
            "code": "quiz_full",
            "remote": "127.0.0.1:5555",
            "players": 3,
        },
    )
    [doc] = _json_lines(out)
    assert TS.match(str(doc["ts"]))
    assert doc["level"] == "info"
    assert doc["logger"] == "quizd.actor"
    assert doc["msg"] == "player Ann joined"
    assert doc["quizId"] == "vocab-101"
    assert doc["participantId"] == "p-1"
    assert doc["node"] == "node-1"
    assert doc["code"] == "quiz_full"
    assert doc["remote"] == "127.0.0.1:5555"
    assert doc["players"] == 3
    assert list(doc)[:9] == [
        "ts",
        "level",
        "logger",
        "msg",
        "quizId",
        "participantId",
        "node",
        "code",
        "remote",
    ]
    assert "exc" not in doc


def test_json_exception_is_one_line_with_exc_field() -> None:
    out = io.StringIO()
    setup_logging("info", "json", stream=out)
    try:
        raise ZeroDivisionError("division by zero")
    except ZeroDivisionError:
        logging.getLogger("quizd").exception("boom", extra={"quizId": "q"})
    lines = _lines(out)
    assert len(lines) == 1
    doc = json.loads(lines[0])
    assert doc["level"] == "error"
    assert "ZeroDivisionError" in str(doc["exc"])
    assert str(doc["exc"]).startswith("Traceback")


def test_json_unserialisable_extra_becomes_string() -> None:
    out = io.StringIO()
    setup_logging("info", "json", stream=out)

    class Thing:
        def __str__(self) -> str:
            return "a thing"

    logging.getLogger("quizd").info("x", extra={"thing": Thing(), "big": 2**80})
    [doc] = _json_lines(out)
    assert doc["thing"] == "a thing"
    assert doc["big"] == 2**80


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_token_extras_never_reach_output(fmt: str) -> None:
    out = io.StringIO()
    setup_logging("info", fmt, stream=out)
    logging.getLogger("quizd.gateway").info(
        "resumed",
        extra={
            "resume_token": "s3cret-resume",
            "adminToken": "s3cret-admin",
            "TOKEN": "s3cret-upper",
            "participantId": "p-9",
        },
    )
    text = out.getvalue()
    assert "s3cret" not in text
    assert "token" not in text.lower()
    assert "p-9" in text


def test_text_format_single_line_with_context() -> None:
    out = io.StringIO()
    setup_logging("info", "text", stream=out)
    logging.getLogger("quizd.actor").warning(
        "question closed",
        extra={"quizId": "vocab-101", "participantId": "p-1", "reason": "all answered now"},
    )
    [line] = _lines(out)
    ts = line.split(" ", 1)[0]
    assert TS.match(ts)
    assert "WARNING" in line
    assert "quizd.actor: question closed" in line
    assert "quizId=vocab-101" in line
    assert "participantId=p-1" in line
    assert 'reason="all answered now"' in line
    assert line.index("quizId=") < line.index("participantId=") < line.index("reason=")


def test_setup_twice_keeps_one_handler() -> None:
    first, second = io.StringIO(), io.StringIO()
    setup_logging("info", "json", stream=first)
    setup_logging("info", "text", stream=second)
    assert len(logging.getLogger().handlers) == 1
    logging.getLogger("quizd").info("hello")
    assert first.getvalue() == ""
    assert "hello" in second.getvalue()


def test_set_level_at_runtime() -> None:
    out = io.StringIO()
    setup_logging("info", "json", stream=out)
    log = logging.getLogger("quizd.node")
    log.debug("hidden")
    set_level("debug")
    log.debug("shown")
    set_level("WARNING")
    log.info("hidden too")
    log.warning("warned")
    assert [d["msg"] for d in _json_lines(out)] == ["shown", "warned"]


def test_noisy_third_party_loggers_silenced_at_info() -> None:
    out = io.StringIO()
    setup_logging("info", "json", stream=out)
    logging.getLogger("hypercorn.access").info("GET /metrics 200")
    logging.getLogger("trio-websocket").info("frame")
    logging.getLogger("trio-websocket").warning("trouble")
    assert [d["msg"] for d in _json_lines(out)] == ["trouble"]
    set_level("debug")
    logging.getLogger("hypercorn.access").info("GET /healthz 200")
    assert _json_lines(out)[-1]["msg"] == "GET /healthz 200"


def test_bad_level_and_format_rejected() -> None:
    with pytest.raises(ValueError):
        setup_logging("verbose", "json")
    with pytest.raises(ValueError):
        setup_logging("info", "xml")
    with pytest.raises(ValueError):
        set_level("loud")


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_secrets_nested_in_extras_are_redacted(fmt: str) -> None:
    """A relay message logged whole carries tokens a level down: they never reach the output."""

    @attrs.frozen
    class Entry:
        quiz_id: str
        host_token: str

    out = io.StringIO()
    setup_logging("debug", fmt, stream=out)
    logging.getLogger("quizd.cluster").debug(
        "relay in %s",
        {"v": {"resumeToken": "s3cret-args"}},
        extra={
            "relay": {"k": "join", "v": {"resumeToken": "s3cret-resume"}, "list": [{"hostToken": "s3cret-list"}]},
            "entry": Entry("q-1", "s3cret-attrs"),
            "webhook": {"secret": "s3cret-webhook"},
            "deep": [[[[[[[[[["s3cret-deep"]]]]]]]]]],
        },
    )
    text = out.getvalue()
    assert "s3cret" not in text
    assert "q-1" in text and "join" in text
    assert "[redacted]" in text


def test_secrets_inside_json_text_are_redacted() -> None:
    """A frame body relayed and logged whole is JSON text: its token fields are redacted."""
    out = io.StringIO()
    setup_logging("debug", "json", stream=out)
    body = '{"type":"joined","payload":{"resumeToken":"s3cret-a","hostToken": "s3cret-\\\\"b","name":"Ann"}}'
    logging.getLogger("quizd.cluster").debug("relay in %s", body, extra={"relay": {"b": body, "raw": body.encode()}})
    text = out.getvalue()
    assert "s3cret" not in text
    assert "Ann" in text


def test_attrs_fields_marked_secret_are_redacted() -> None:
    """A typed message whose field name says nothing (a join's credential) marks it secret."""

    @attrs.frozen
    class Join:
        kind: str
        credential: str = attrs.field(metadata={"secret": True})

    out = io.StringIO()
    setup_logging("debug", "text", stream=out)
    logging.getLogger("quizd.cluster").debug("relay in", extra={"relay": Join("resume", "s3cret-cred")})
    text = out.getvalue()
    assert "s3cret" not in text and "resume" in text
