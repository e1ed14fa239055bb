"""The host's player list in pages: ``joined.players`` is bounded, ``get_players`` pages on.

A quiz of 10,000 players once sent the host all of them in ``joined``, which overflowed
the connection's send queue and cut the host on every join.  Now no message lists more
than ``PLAYER_PAGE`` players, and the rest comes one page at a time.
"""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quizd.game import views
from quizd.game.quiz import GameSettings
from quizd.protocol import errors as E
from quizd.protocol.errors import ProtocolError
from quizd.protocol.messages import GetPlayersPayload, encode, parse_frame
from tests.unit.quizkit import HOST_TOKEN, make_game, reply


def host_joined(game):
    return reply(game.resume(HOST_TOKEN, 1.0, host=True).effects, "host", "joined").payload


def page(game, after, limit=None):
    return reply(game.get_players("host", after, limit, "r"), "host", "players").payload


def crowded(n: int):
    game = make_game(settings=GameSettings(max_players=n + 10))
    for i in range(n):
        game.join_player(f"player-{i:06d}-xxxxxxxxxx", 0.5)
    return game


def test_a_small_quiz_lists_everyone_in_joined_with_no_next_page():
    game = crowded(3)
    joined = host_joined(game)
    assert [p["participantId"] for p in joined["players"]] == ["p1", "p2", "p3"]
    assert joined["playersTotal"] == 3
    assert joined["playersNext"] is None


def test_a_big_quiz_pages_through_every_player_once_in_join_order():
    game = crowded(1234)
    joined = host_joined(game)
    assert len(joined["players"]) == views.PLAYER_PAGE
    assert joined["playersTotal"] == 1234
    seen = [p["participantId"] for p in joined["players"]]
    cursor = joined["playersNext"]
    while cursor is not None:
        got = page(game, cursor)
        assert got["total"] == 1234
        assert len(got["players"]) <= views.PLAYER_PAGE
        seen.extend(p["participantId"] for p in got["players"])
        cursor = got["next"]
    assert seen == [f"p{i}" for i in range(1, 1235)]


def test_no_host_message_grows_with_the_quiz():
    """joined of the host of 10,000 players with long names stays far below the send queue."""
    game = crowded(10_000)
    body = encode("joined", host_joined(game), 1)
    assert len(body) < 64 * 1024


def test_limit_caps_a_page_and_the_reply_echoes_re():
    game = crowded(30)
    effects = game.get_players("host", "0", 7, "r7")
    assert effects[0].reply_to == "r7"
    got = effects[0].payload
    assert [p["participantId"] for p in got["players"]] == [f"p{i}" for i in range(1, 8)]
    assert got["next"] is not None
    assert page(game, got["next"], 500)["players"][0]["participantId"] == "p8"


@pytest.mark.parametrize("cursor", ["", "abc", "-1", "1.5", "9" * 40, " 1", "١٢"])
def test_a_cursor_the_server_never_gave_is_invalid_message(cursor):
    game = crowded(3)
    with pytest.raises(ProtocolError) as err:
        game.get_players("host", cursor)
    assert err.value.code == E.INVALID_MESSAGE
    assert err.value.details == {"path": "payload.after", "problem": "unknown cursor"}


@pytest.mark.parametrize("limit", [0, -1, 501, 10**12, True])
def test_a_limit_out_of_range_is_invalid_message(limit):
    game = crowded(3)
    with pytest.raises(ProtocolError) as err:
        game.get_players("host", "0", limit)
    assert err.value.code == E.INVALID_MESSAGE
    assert err.value.details["path"] == "payload.limit"


def test_a_player_asking_for_the_list_is_not_host():
    game = crowded(3)
    with pytest.raises(ProtocolError) as err:
        game.get_players("p1", "0")
    assert err.value.code == E.NOT_HOST


def test_get_players_parses_with_an_optional_limit():
    msg = parse_frame(orjson.dumps({"type": "get_players", "id": 3, "payload": {"after": "500"}}).decode())
    assert msg.payload == GetPlayersPayload("500", None)
    msg = parse_frame(orjson.dumps({"type": "get_players", "payload": {"after": "5", "limit": 9}}).decode())
    assert msg.payload == GetPlayersPayload("5", 9)
    for bad in ({}, {"after": 5}, {"after": None}, {"after": "1", "limit": "x"}):
        with pytest.raises(ProtocolError) as err:
            parse_frame(orjson.dumps({"type": "get_players", "payload": bad}).decode())
        assert err.value.code == E.INVALID_MESSAGE


@settings(max_examples=60, deadline=None)
@given(
    joined_first=st.integers(0, 40),
    steps=st.lists(st.tuples(st.sampled_from(["join", "leave", "page"]), st.integers(0, 60)), max_size=40),
    limit=st.integers(1, 7),
)
def test_pages_with_joins_and_leaves_between_them_miss_and_repeat_nobody(joined_first, steps, limit):
    """Invariant: every player in the quiz from the first page to the last is listed
    exactly once; nobody is listed twice; the pages are in join order."""
    game = make_game(settings=GameSettings(max_players=1000))
    names = iter(range(10**6))
    for _ in range(joined_first):
        game.join_player(f"n{next(names)}", 0.5)
    present_throughout = set(game.participants) - {"host"}
    listed: list[str] = []
    first = page(game, "0", limit)
    listed.extend(p["participantId"] for p in first["players"])
    cursor = first["next"]
    for kind, n in steps:
        if cursor is None:
            break
        if kind == "join":
            game.join_player(f"n{next(names)}", 0.5)
        elif kind == "leave":
            players = sorted(set(game.participants) - {"host"})
            if players:
                gone = players[n % len(players)]
                game.leave(gone, 0.5)
                present_throughout.discard(gone)
        else:
            got = page(game, cursor, limit)
            listed.extend(p["participantId"] for p in got["players"])
            cursor = got["next"]
    while cursor is not None:
        got = page(game, cursor, limit)
        listed.extend(p["participantId"] for p in got["players"])
        cursor = got["next"]
    assert len(listed) == len(set(listed))
    assert listed == sorted(listed, key=lambda pid: int(pid[1:]))
    assert present_throughout <= set(listed)
