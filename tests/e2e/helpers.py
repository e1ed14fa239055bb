"""Helpers shared by the end-to-end tests (not a test module)."""

from __future__ import annotations

import json
import re
from typing import Any

import trio
from trio_websocket import ConnectionClosed

from quizd.client import ControlClient, QuizConnection


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


def metric_value(text: str, name: str, labels: dict[str, str] | None = None) -> float:
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)", line)
        if not m or m.group(1) != name:
            continue
        got = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        if got == (labels or {}):
            return float(m.group(3))
    return 0.0


async def metric(node: Any, name: str, labels: dict[str, str] | None = None) -> float:
    status, body = await ControlClient(node.http_url).request("GET", "/metrics", raw=True)
    assert status == 200
    return metric_value(body.decode(), name, labels)
