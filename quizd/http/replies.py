"""What every control-plane route answers with: ``Reply``, JSON and error bodies, and
the bounded read of a request body (size and time), shared by the v1 routes in
:mod:`quizd.http.app` and the data API in :mod:`quizd.http.data_api`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import attrs
import orjson
import trio

MAX_BODY_BYTES = 64 * 1024
# A body that has not fully arrived by then is refused (408): a POST that never sends its
# body must not hold a connection and a task forever.
BODY_TIMEOUT_S = 10.0

Receive = Callable[[], Awaitable[dict[str, Any]]]


@attrs.frozen
class Reply:
    """One response: status, body, content type and any headers beyond those two."""

    status: int
    body: bytes
    content_type: str
    headers: tuple[tuple[bytes, bytes], ...] = ((b"cache-control", b"no-store"),)


def json_reply(status: int, value: Any) -> Reply:
    return Reply(status, orjson.dumps(value), "application/json")


def error_reply(status: int, code: str, message: str, details: Mapping[str, object] | None = None) -> Reply:
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return json_reply(status, {"error": error})


def only_get(method: str) -> Reply | None:
    if method in ("GET", "HEAD"):
        return None
    return error_reply(405, "method_not_allowed", "use GET")


async def read_body(receive: Receive) -> bytes | None:
    """The whole body, or None once it grows past ``MAX_BODY_BYTES``."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


async def bounded_body(receive: Receive) -> bytes | Reply:
    """The body, or the refusal: 408 if it is not all there within ``BODY_TIMEOUT_S``,
    413 past ``MAX_BODY_BYTES``."""
    raw: bytes | None = b""
    with trio.move_on_after(BODY_TIMEOUT_S) as waiting:
        raw = await read_body(receive)
    if waiting.cancelled_caught:
        return error_reply(408, "invalid_body", f"the body did not arrive within {BODY_TIMEOUT_S:g} s")
    if raw is None:
        return error_reply(413, "invalid_body", f"body larger than {MAX_BODY_BYTES} bytes")
    return raw
