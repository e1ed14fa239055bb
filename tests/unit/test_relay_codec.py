"""The relay codec: every message class round-trips; anything else is a RelayDecodeError."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quizd.cluster import messages as m
from quizd.game.quiz import AutoStart
from quizd.protocol.messages import parse_message

text = st.text(max_size=20)
ints = st.integers(min_value=-(2**53), max_value=2**53)
conn = st.integers(min_value=0, max_value=2**40)
msg_id = st.none() | st.text(max_size=64) | ints
json_scalar = st.none() | st.booleans() | ints | text
json_value = st.recursive(
    json_scalar,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)

client_message = st.one_of(
    st.builds(
        lambda q, c, i: {"type": "answer", "payload": {"questionId": q, "choice": c}, "id": i}, text, ints, msg_id
    ),
    st.builds(
        lambda t, i: {"type": t, "id": i}, st.sampled_from(["leave", "start", "end", "ping", "get_leaderboard"]), msg_id
    ),
    st.builds(lambda n: {"type": "next", "payload": {"questionIndex": n}}, st.none() | ints),
    st.builds(lambda p: {"type": "kick", "payload": {"participantId": p}}, text),
).map(lambda raw: parse_message({k: v for k, v in raw.items() if v is not None or k != "id"}))

STRATEGIES: dict[type[m.RelayMessage], st.SearchStrategy[Any]] = {
    m.RemoteJoin: st.builds(
        m.RemoteJoin, text, st.sampled_from(["player", "resume", "host"]), st.none() | text, msg_id, text, conn, ints
    ),
    m.RemoteCommand: st.builds(m.RemoteCommand, text, text, text, conn, ints, client_message),
    m.RemoteLost: st.builds(m.RemoteLost, text, text, text, conn),
    m.HandoffTimes: st.builds(m.HandoffTimes, text, text, st.lists(st.tuples(text, ints), max_size=5).map(tuple)),
    m.RpcCall: st.builds(
        m.RpcCall,
        conn,
        text,
        st.sampled_from(m.RpcOp),
        text,
        st.none() | text,
        st.none() | st.builds(AutoStart, ints, st.none() | ints),
    ),
    m.JoinAccepted: st.builds(m.JoinAccepted, conn, text, text),
    m.JoinRefused: st.builds(
        m.JoinRefused, conn, text, text, st.none() | st.dictionaries(text, json_value, max_size=3)
    ),
    m.SendOne: st.builds(m.SendOne, conn, text, text),
    m.BroadcastAll: st.builds(m.BroadcastAll, text, text, text, st.booleans(), st.none() | text),
    m.CloseOne: st.builds(m.CloseOne, conn, ints, text),
    m.QuizMoved: st.builds(m.QuizMoved, text),
    m.RpcResult: st.builds(m.RpcResult, conn, json_value, st.none() | st.builds(m.RpcFailure, ints, text, text)),
    m.JoinUndone: st.builds(m.JoinUndone, text, text, text, conn, st.booleans()),
}


def test_every_message_class_has_a_strategy() -> None:
    assert set(STRATEGIES) == set(m.MESSAGE_TYPES.values())


def test_each_class_travels_one_way() -> None:
    for cls in m.MESSAGE_TYPES.values():
        assert issubclass(cls, m.ToOwner) != issubclass(cls, m.ToGateway), cls


@settings(max_examples=300)
@given(st.one_of(*STRATEGIES.values()), ints)
def test_round_trip(message: m.RelayMessage, sent_at: int) -> None:
    entry = m.decode(m.encode(message, sent_at))
    assert entry == m.Entry(message, sent_at)
    assert type(entry.message) is type(message)


def _wire(message: m.RelayMessage) -> dict[str, Any]:
    wire = orjson.loads(m.encode(message, 1))
    assert isinstance(wire, dict)
    return wire


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"[1, 2]",
        b'"bind"',
        b"{}",
        b'{"k": "nope", "ts": 1}',
        b'{"k": 7, "ts": 1}',
    ],
)
def test_unknown_or_not_an_object(raw: bytes) -> None:
    with pytest.raises(m.RelayDecodeError):
        m.decode(raw)


def test_unknown_tag_names_it() -> None:
    with pytest.raises(m.RelayDecodeError, match="'zz'"):
        m.decode(orjson.dumps({"k": "zz", "ts": 1}))


@pytest.mark.parametrize(
    "change",
    [
        lambda w: w.pop("c"),  # a field missing
        lambda w: w.update(c="3"),  # a wrong type
        lambda w: w.update(c=True),  # a bool is not an int
        lambda w: w.pop("ts"),  # no timestamp
        lambda w: w.update(ts="now"),
        lambda w: w.update(extra=1),  # a key the class does not have
    ],
)
def test_malformed_entries(change: Any) -> None:
    wire = _wire(m.JoinAccepted(3, "quiz", "p1"))
    change(wire)
    with pytest.raises(m.RelayDecodeError):
        m.decode(orjson.dumps(wire))


def test_a_command_must_carry_a_valid_client_message() -> None:
    wire = _wire(m.RemoteCommand("quiz", "p1", "gw", 3, 5, parse_message({"type": "leave"})))
    wire["m"] = {"type": "answer", "payload": {"questionId": "q0", "choice": "two"}}
    with pytest.raises(m.RelayDecodeError, match="'cmd'"):
        m.decode(orjson.dumps(wire))


def test_an_rpc_needs_a_known_operation() -> None:
    wire = _wire(m.RpcCall(1, "gw", m.RpcOp.END, "quiz"))
    wire["op"] = "explode"
    with pytest.raises(m.RelayDecodeError):
        m.decode(orjson.dumps(wire))
