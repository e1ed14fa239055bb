"""Plain helpers for the WebSocket end-to-end tests: quizzes, joins, waits and reads.

The node they run against is the ``quizd_node`` fixture (tests/e2e/conftest.py: one
node per test module with ``DEFINITIONS``); tests that need special limits start
their own node through ``node_factory``.  A kit module, imported by name.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import Any
from urllib.parse import urlsplit

import trio
from trio_websocket import ConnectionClosed, ConnectionRejected, wrap_client_stream

from quizd.client import ControlClient, QuizConnection, connect
from tests.nodekit import NodeAddresses, quiz_toml

# Longest any single wait may take; each wait is bounded by trio.fail_after.
WAIT = 5.0

# Quizzes driven by the host's ``next``: long time limits and long reveals, so that
# nothing advances by itself during a test unless the test says so.
DEFINITIONS: dict[str, str] = {
    "steady": quiz_toml("steady", questions=3, reveal_ms=30000),
    "steady-close": quiz_toml("steady-close", questions=2, reveal="on_close", reveal_ms=30000),
    "quick": quiz_toml("quick", questions=2, reveal_ms=150),
    "no-late": quiz_toml("no-late", questions=2, reveal_ms=30000, allow_late_join=False),
    "all-answered": quiz_toml("all-answered", questions=2, reveal_ms=30000, close_when_all_answered=True),
    # Every correct answer scores exactly 1 point: equal scores are easy to make.
    "flat": quiz_toml("flat", questions=2, reveal_ms=30000, points=1, streak_bonus=0),
    "flat-close": quiz_toml("flat-close", questions=2, reveal="on_close", reveal_ms=30000, points=1, streak_bonus=0),
    "countdown": quiz_toml("countdown", questions=1, reveal_ms=30000, countdown_ms=300),
    "slow-start": quiz_toml("slow-start", questions=1, reveal_ms=30000, countdown_ms=60000),
    # The one quiz whose question closes by its own timer.
    "timed": quiz_toml("timed", questions=1, reveal="on_close", time_limit_ms=1000, reveal_ms=30000),
}

# Throttled broadcasts (participants, leaderboard, host_state) every 100 ms, not 500.
# No drain wait when the node is stopped at the end of the module.
FAST_TABLES: dict[str, dict[str, Any]] = {"leaderboard": {"interval_ms": 100}, "node": {"drain_timeout_s": 0}}

PLAYER_JOINED_KEYS = {
    "quizId",
    "participantId",
    "resumeToken",
    "role",
    "name",
    "quiz",
    "score",
    "streak",
    "rank",
    "participants",
    "leaderboard",
    "serverTime",
}
HOST_JOINED_KEYS = PLAYER_JOINED_KEYS | {"players", "playersTotal", "playersNext", "hostState"}
QUESTION_KEYS = {
    "questionId",
    "index",
    "total",
    "text",
    "choices",
    "timeLimitMs",
    "startedAt",
    "endsAt",
    "serverTime",
    "kind",
}
ENTRY_KEYS = {"rank", "participantId", "name", "score"}
HOST_STATE_KEYS = {"phase", "questionIndex", "participants", "connected", "answered"}
ANSWER_RESULT_KEYS = {"questionId", "choice", "correct", "points", "score", "streak", "rank"}


# ---------------------------------------------------------------------- quizzes
class Quiz:
    def __init__(self, node: NodeAddresses, quiz_id: str, host_token: str, control: ControlClient) -> None:
        self.node = node
        self.id = quiz_id
        self.host_token = host_token
        self.control = control


async def create_quiz(node: NodeAddresses, definition: str, *, auto_start: dict[str, int] | None = None) -> Quiz:
    control = ControlClient(node.http_url, node.token)
    created = await control.create_quiz(definition, auto_start=auto_start)
    return Quiz(node, created["quizId"], created["hostToken"], control)


async def open_conn(stack: AsyncExitStack, node: NodeAddresses, **kwargs: Any) -> QuizConnection:
    return await stack.enter_async_context(connect(node.ws_url, **kwargs))


async def join_host(stack: AsyncExitStack, quiz: Quiz) -> tuple[QuizConnection, dict[str, Any]]:
    host = await open_conn(stack, quiz.node)
    joined = await host.join(quiz.id, hostToken=quiz.host_token)
    assert joined["type"] == "joined", joined
    return host, joined


async def join_player(stack: AsyncExitStack, quiz: Quiz, name: str) -> tuple[QuizConnection, dict[str, Any]]:
    conn = await open_conn(stack, quiz.node)
    joined = await conn.join(quiz.id, name=name)
    assert joined["type"] == "joined", joined
    return conn, joined


async def resume(stack: AsyncExitStack, quiz: Quiz, token: str) -> tuple[QuizConnection, dict[str, Any]]:
    conn = await open_conn(stack, quiz.node)
    joined = await conn.join(quiz.id, resumeToken=token)
    assert joined["type"] == "joined", joined
    return conn, joined


async def setup_quiz(
    stack: AsyncExitStack, node: NodeAddresses, definition: str, names: list[str]
) -> tuple[Quiz, QuizConnection, list[QuizConnection]]:
    """Create a quiz, join its host, then one player per name (in that order)."""
    quiz = await create_quiz(node, definition)
    host, _ = await join_host(stack, quiz)
    players = [(await join_player(stack, quiz, name))[0] for name in names]
    return quiz, host, players


async def start_quiz(host: QuizConnection, players: list[QuizConnection]) -> dict[str, Any]:
    """Host ``start`` (countdown 0); everyone gets the first question, whose payload is returned."""
    reply = await host.request("start", timeout=WAIT)
    assert reply["type"] == "host_state", reply
    question = await host.expect("question", WAIT)
    for player in players:
        await player.expect("question", WAIT)
    return question["payload"]


async def answer(conn: QuizConnection, question_id: str, choice: int) -> dict[str, Any]:
    return await conn.request("answer", {"questionId": question_id, "choice": choice}, timeout=WAIT)


# ---------------------------------------------------------------------- waiting
async def request_error(
    conn: QuizConnection, msg_type: str, payload: dict[str, Any] | None, code: str, *, msg_id: Any = None
) -> dict[str, Any]:
    """Send a message, expect an ``error`` with ``code`` carrying the message's id as ``re``."""
    sent = await conn.send(msg_type, payload, msg_id=msg_id)
    with trio.fail_after(WAIT):
        while True:
            reply = await conn.recv(WAIT)
            if reply.get("re") == sent:
                break
    assert reply["type"] == "error", reply
    assert reply["payload"]["code"] == code, reply
    assert isinstance(reply["payload"]["message"], str)
    return reply


async def raw_error(conn: QuizConnection, frame: str | bytes, code: str) -> dict[str, Any]:
    """Send a raw frame and expect an ``error`` with ``code`` (the next error that arrives)."""
    await conn.send_raw(frame)
    reply = await conn.expect("error", WAIT)
    assert reply["payload"]["code"] == code, reply
    return reply


async def until(
    conn: QuizConnection, predicate: Callable[[dict[str, Any]], bool], timeout: float = WAIT
) -> dict[str, Any]:
    with trio.fail_after(timeout):
        while True:
            message = await conn.recv(timeout)
            if predicate(message):
                return message


async def collect(conn: QuizConnection, seconds: float) -> list[dict[str, Any]]:
    """Everything that arrives within ``seconds`` (the connection must stay open)."""
    got: list[dict[str, Any]] = []
    with trio.move_on_after(seconds):
        while True:
            got.append(await conn.recv(seconds + WAIT))
    return got


async def closed_with(conn: QuizConnection, timeout: float = WAIT) -> tuple[int, list[dict[str, Any]]]:
    """Read until the server closes; return the close code and what came before it."""
    got: list[dict[str, Any]] = []
    with trio.fail_after(timeout):
        try:
            while True:
                got.append(await conn.recv(timeout))
        except ConnectionClosed as exc:
            return exc.reason.code, got


async def close_code(conn: QuizConnection, timeout: float = 10.0) -> int | None:
    """Read (keeping messages in ``conn.received``) until the server closes; the close code."""
    with trio.fail_after(timeout):
        while True:
            try:
                message = await conn.ws.get_message()
            except ConnectionClosed as exc:
                return exc.reason.code if exc.reason else None
            conn.received.append(json.loads(message))


async def still_open(conn: QuizConnection) -> None:
    """The connection answers a ``ping`` (it was not closed)."""
    reply = await conn.request("ping", timeout=5)
    assert reply["type"] in ("pong", "error"), reply


async def refused_handshake(url: str, extra_headers: list[tuple[bytes, bytes]] | None = None) -> ConnectionRejected:
    """Open a WebSocket handshake the server must refuse; the refusal.

    The test owns the TCP stream and closes it: trio-websocket 0.12's
    ``open_websocket_url`` leaves a refused handshake's socket to the garbage collector.
    """
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None, url
    resource = parts.path + (f"?{parts.query}" if parts.query else "")
    refusals: list[ConnectionRejected] = []
    stream = await trio.open_tcp_stream(parts.hostname, parts.port)
    async with stream:
        try:
            with trio.fail_after(WAIT):
                async with trio.open_nursery() as nursery:
                    await wrap_client_stream(nursery, stream, parts.hostname, resource, extra_headers=extra_headers)
        except* ConnectionRejected as group:
            refusals.extend(e for e in group.exceptions if isinstance(e, ConnectionRejected))
    assert len(refusals) == 1, f"the handshake to {url} was accepted"
    return refusals[0]


async def alive(conn: QuizConnection) -> None:
    """The connection is open and answered: a ping gets its pong."""
    reply = await conn.request("ping", timeout=WAIT)
    assert reply["type"] == "pong", reply


def joined_payload(conn: QuizConnection) -> dict[str, Any]:
    """The payload of the ``joined`` this connection received."""
    return next(m for m in conn.received if m["type"] == "joined")["payload"]


def now_ms() -> int:
    return int(time.time() * 1000)


def types(messages: list[dict[str, Any]]) -> list[str]:
    return [m["type"] for m in messages]
