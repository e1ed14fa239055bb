"""A small client for quizd: the control plane over HTTP and players over WebSocket.

Used by the tests and the load generator, and handy in a Python shell.  The HTTP
helpers use the standard library's ``http.client`` in a worker thread (the control
plane is low-volume); the WebSocket side is trio-websocket.
"""

from __future__ import annotations

import http.client
import itertools
import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import trio
from trio_websocket import WebSocketConnection, open_websocket_url
from wsproto.utilities import LocalProtocolError

_HTTP_LIMITER = trio.CapacityLimiter(8)


class HttpError(Exception):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.body = body


class ControlClient:
    """The HTTP control plane (``/api/*`` with the admin token)."""

    def __init__(self, base_url: str, token: str = "", timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def request_sync(self, method: str, path: str, body: Any = None, *, raw: bool = False) -> tuple[int, Any]:
        parts = urlsplit(self.base_url)
        conn_type = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        conn = conn_type(parts.hostname or "127.0.0.1", parts.port, timeout=self.timeout)
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = body if isinstance(body, (bytes, str)) or body is None else json.dumps(body)
        try:
            conn.request(method, path, body=data, headers=headers)
            response = conn.getresponse()
            payload = response.read()
        finally:
            conn.close()
        if raw:
            return response.status, payload
        return response.status, json.loads(payload) if payload else None

    async def request(self, method: str, path: str, body: Any = None, *, raw: bool = False) -> tuple[int, Any]:
        return await trio.to_thread.run_sync(
            lambda: self.request_sync(method, path, body, raw=raw), limiter=_HTTP_LIMITER
        )

    async def _ok(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        status, payload = await self.request(method, path, body)
        if status != expect:
            raise HttpError(status, payload)
        return payload

    async def _ok_object(self, method: str, path: str, body: Any = None, expect: int = 200) -> dict[str, Any]:
        """``_ok`` for an endpoint that answers a JSON object; any other shape is an HttpError."""
        payload = await self._ok(method, path, body, expect)
        if not isinstance(payload, dict):
            raise HttpError(expect, payload)
        return payload

    async def _ok_list(self, method: str, path: str) -> list[dict[str, Any]]:
        """``_ok`` for an endpoint that answers a JSON array of objects."""
        payload = await self._ok(method, path)
        if not isinstance(payload, list):
            raise HttpError(200, payload)
        return payload

    async def create_quiz(
        self, definition_id: str, quiz_id: str | None = None, auto_start: dict[str, int] | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"definitionId": definition_id}
        if quiz_id is not None:
            body["quizId"] = quiz_id
        if auto_start is not None:
            body["autoStart"] = auto_start
        return await self._ok_object("POST", "/api/quizzes", body, expect=201)

    async def definitions(self) -> list[dict[str, Any]]:
        return await self._ok_list("GET", "/api/definitions")

    async def quizzes(self) -> list[dict[str, Any]]:
        return await self._ok_list("GET", "/api/quizzes")

    async def quiz(self, quiz_id: str) -> dict[str, Any]:
        return await self._ok_object("GET", f"/api/quizzes/{quiz_id}")

    async def results(self, quiz_id: str) -> dict[str, Any]:
        return await self._ok_object("GET", f"/api/quizzes/{quiz_id}/results")

    async def end(self, quiz_id: str) -> dict[str, Any]:
        return await self._ok_object("POST", f"/api/quizzes/{quiz_id}/end")


class QuizConnection:
    """One WebSocket participant: send envelopes, receive them as dicts."""

    _ids = itertools.count(1)

    def __init__(self, ws: WebSocketConnection) -> None:
        self.ws = ws
        self.received: list[dict[str, Any]] = []

    async def send(self, msg_type: str, payload: dict[str, Any] | None = None, *, msg_id: Any = None) -> Any:
        envelope: dict[str, Any] = {"type": msg_type, "payload": payload or {}}
        if msg_id is None:
            msg_id = next(self._ids)
        envelope["id"] = msg_id
        await self.ws.send_message(json.dumps(envelope))
        return msg_id

    async def send_raw(self, frame: str | bytes) -> None:
        await self.ws.send_message(frame)

    async def recv(self, timeout: float = 10.0) -> dict[str, Any]:
        with trio.fail_after(timeout):
            message = await self.ws.get_message()
        decoded: dict[str, Any] = json.loads(message)  # the server sends JSON objects only
        self.received.append(decoded)
        return decoded

    async def expect(self, types: str | Iterable[str], timeout: float = 10.0) -> dict[str, Any]:
        """Receive until a message of one of ``types`` arrives (others are kept in ``received``)."""
        wanted = {types} if isinstance(types, str) else set(types)
        with trio.fail_after(timeout):
            while True:
                message = await self.recv(timeout)
                if message["type"] in wanted:
                    return message

    async def request(
        self, msg_type: str, payload: dict[str, Any] | None = None, timeout: float = 10.0
    ) -> dict[str, Any]:
        """Send and wait for the direct reply (the message whose ``re`` matches)."""
        msg_id = await self.send(msg_type, payload)
        with trio.fail_after(timeout):
            while True:
                message = await self.recv(timeout)
                if message.get("re") == msg_id:
                    return message

    async def join(self, quiz_id: str, **how: str) -> dict[str, Any]:
        """``join`` with ``name=``, ``resumeToken=`` or ``hostToken=``; returns the reply."""
        return await self.request("join", {"quizId": quiz_id, **how})

    async def close(self, code: int = 1000) -> None:
        await self.ws.aclose(code)


def connect(url: str, **kwargs: Any) -> Any:
    """``async with connect(ws_url) as conn:`` yields a ``QuizConnection``."""
    return _Connect(url, kwargs)


class _Connect:
    def __init__(self, url: str, kwargs: dict[str, Any]) -> None:
        self._cm = open_websocket_url(url, **kwargs)
        self._ws: WebSocketConnection | None = None

    async def __aenter__(self) -> QuizConnection:
        try:
            self._ws = await self._cm.__aenter__()
        except BaseException as error:
            # A handshake that fails after the TCP connect (rejected, reset, timed out,
            # cancelled) leaves trio-websocket's stream to the garbage collector: the
            # library closes neither it nor hands us the connection.  Its frames still
            # hold the connection.
            leaked = _connection_in(error)
            if leaked is not None:
                await _close_tcp(leaked)
            raise
        return QuizConnection(self._ws)

    async def __aexit__(self, *exc: Any) -> bool | None:
        try:
            return await self._exit(*exc)
        finally:
            if self._ws is not None:
                await _close_tcp(self._ws)

    async def _exit(self, *exc: Any) -> bool | None:
        try:
            return await self._cm.__aexit__(*exc)
        except (LocalProtocolError, BaseExceptionGroup) as error:
            # trio-websocket #184: closing while a server ping's pong is still unsent
            # raises from the library; the connection is closed either way.
            if isinstance(error, BaseExceptionGroup):
                _, rest = error.split(LocalProtocolError)
                if rest is not None:
                    raise
            if exc[0] is not None:
                raise
            return None


async def _close_tcp(ws: WebSocketConnection) -> None:
    """Close the connection's TCP stream (a no-op when trio-websocket already did).

    trio-websocket 0.12 leaves a client's TCP stream open when the server closed the
    WebSocket first: its reader stops at the server's EOF without closing the stream,
    and ``aclose`` then returns early because a close reason is already set.  The
    socket would wait for the garbage collector (a ResourceWarning); the library
    offers no public handle on the stream, hence the private attribute.
    """
    stream = getattr(ws, "_stream", None)
    if stream is not None:
        await trio.aclose_forcefully(stream)


def _connection_in(error: BaseException) -> WebSocketConnection | None:
    """The ``WebSocketConnection`` a frame of ``error``'s traceback (or of its context
    or group members) holds, if any."""
    seen: set[int] = set()
    pending: list[BaseException] = [error]
    while pending:
        exc = pending.pop()
        if id(exc) in seen:
            continue
        seen.add(id(exc))
        tb = exc.__traceback__
        while tb is not None:
            for value in tb.tb_frame.f_locals.values():
                if isinstance(value, WebSocketConnection):
                    return value
            tb = tb.tb_next
        if isinstance(exc, BaseExceptionGroup):
            pending.extend(exc.exceptions)
        for linked in (exc.__context__, exc.__cause__):
            if linked is not None:
                pending.append(linked)
    return None
